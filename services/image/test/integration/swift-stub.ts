/**
 * A tiny Swift-compatible object server for the image service's tests: container PUT/HEAD,
 * object PUT (Content-Length or chunked; a body cut short is discarded), GET (one Range),
 * DELETE, each requiring an X-Auth-Token that verifies. Objects live in a temp directory.
 */
import { createHash } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TokenService } from '@strato/auth';

export interface SwiftStub {
  url: string;
  /** Names of stored objects ("AUTH_x/container/object"). */
  objects(): string[];
  requests: { method: string; path: string; token: boolean }[];
  close(): Promise<void>;
}

export async function startSwiftStub(tokens: TokenService, dir: string): Promise<SwiftStub> {
  mkdirSync(dir, { recursive: true });
  const stored = new Set<string>();
  const containers = new Set<string>();
  const requests: SwiftStub['requests'] = [];
  const fileOf = (key: string) => join(dir, createHash('sha1').update(key).digest('hex'));
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? '').split('?')[0]!);
    const token = req.headers['x-auth-token'];
    requests.push({ method: req.method ?? '', path, token: typeof token === 'string' });
    const fail = (status: number) => {
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(String(status));
    };
    const m = /^\/v1\/(AUTH_[^/]+)\/([^/]+)(?:\/(.+))?$/.exec(path);
    if (typeof token !== 'string') return fail(401);
    tokens.verify(token).then(
      (claims) => {
        if (!m || claims.project === null || `AUTH_${claims.project.id}` !== m[1]) return fail(403);
        const container = `${m[1]}/${m[2]}`;
        const object = m[3];
        if (!object) {
          if (req.method === 'PUT') {
            containers.add(container);
            res.writeHead(201).end();
          } else if (req.method === 'HEAD') {
            res.writeHead(containers.has(container) ? 204 : 404).end();
          } else fail(405);
          return;
        }
        const key = `${container}/${object}`;
        const file = fileOf(key);
        if (req.method === 'PUT') {
          if (!containers.has(container)) return fail(404);
          const temp = `${file}.part`;
          const md5 = createHash('md5');
          const out = createWriteStream(temp);
          let aborted = false;
          const abort = () => {
            aborted = true;
            out.destroy();
            rmSync(temp, { force: true });
          };
          req.on('aborted', abort);
          req.on('error', abort);
          req.on('data', (chunk: Buffer) => md5.update(chunk));
          req.pipe(out);
          out.on('finish', () => {
            if (aborted || !req.complete) {
              rmSync(temp, { force: true });
              return;
            }
            renameSync(temp, file);
            stored.add(key);
            res.writeHead(201, { etag: md5.digest('hex') }).end();
          });
          return;
        }
        if (req.method === 'GET') {
          if (!stored.has(key)) return fail(404);
          const size = statSync(file).size;
          const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
          if (range) {
            const start = Number(range[1]);
            const end = Math.min(Number(range[2]), size - 1);
            res.writeHead(206, {
              'content-length': end - start + 1,
              'content-range': `bytes ${start}-${end}/${size}`,
            });
            createReadStream(file, { start, end }).pipe(res);
          } else {
            res.writeHead(200, { 'content-length': size });
            createReadStream(file).pipe(res);
          }
          return;
        }
        if (req.method === 'DELETE') {
          if (!stored.delete(key)) return fail(404);
          if (existsSync(file)) rmSync(file);
          res.writeHead(204).end();
          return;
        }
        fail(405);
      },
      () => fail(401),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    objects: () => [...stored],
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

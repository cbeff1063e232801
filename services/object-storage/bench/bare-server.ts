/**
 * The smallest HTTP server for the benchmark's ceilings: every GET streams one file
 * (argv[2]); a PUT is dropped (path ending in /discard: the bare receive rate) or MD5-hashed
 * on the event loop and dropped (any other path). What the benchmark client can reach on this
 * machine when the server does nothing else.
 */
import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';

const file = process.argv[2]!;
const server = createServer((req, res) => {
  if (req.method === 'PUT') {
    const md5 = req.url?.endsWith('/discard') ? null : createHash('md5');
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      md5?.update(c);
    });
    req.on('end', () => {
      res.writeHead(201, { etag: md5 ? md5.digest('hex') : String(size), 'content-length': '0' });
      res.end();
    });
    return;
  }
  req.resume();
  res.writeHead(200, {
    'content-type': 'application/octet-stream',
    'content-length': statSync(file).size,
  });
  pipeline(createReadStream(file, { highWaterMark: 1024 * 1024 }), res).catch(() => res.destroy());
});
server.listen(0, '127.0.0.1', () => process.send?.({ port: (server.address() as AddressInfo).port }));
process.on('SIGTERM', () => process.exit(0));

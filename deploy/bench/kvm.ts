/**
 * npm run bench:kvm — what the whole stack adds to booting a real guest. In one run, median
 * of BENCH_RUNS (default 5) each, alternating:
 * - stack: POST /servers (api → scheduler → compute agent → libvirt on qemu:///system) until
 *   the test guest's ready marker appears on its serial console (the console log file the
 *   agent gives the domain, read directly every 20 ms);
 * - bare: the same guest started directly through libvirt (`virsh create` of the domain XML
 *   the agent made, renamed, with a fresh overlay on the same cached base file and a copy of
 *   the config drive) until the same marker appears in its own serial file.
 * Prints both, their ratio, each guest's QEMU RSS and the compute agent's RSS. KVM where the
 * CPU really has it (vmx/svm), TCG otherwise, as the agent's virt_type=auto decides.
 * Figures are printed, never asserted.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildAll } from '../build';
import {
  ComputeApi,
  adminToken,
  startComputeStack,
  type ComputeStack,
} from '../../test/support/compute-stack';
import { GUEST_DIR, buildTestGuest, virsh } from '../../test/support/guest';
import { percentile, rssMiB } from './lib';

const run = promisify(execFile);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const MARKER = 'STRATO-GUEST-READY';
const TIMEOUT_MS = 300_000;

async function waitForMarker(file: string, startedAt: number): Promise<number> {
  for (;;) {
    if (existsSync(file) && readFileSync(file, 'latin1').includes(MARKER))
      return performance.now() - startedAt;
    if (performance.now() - startedAt > TIMEOUT_MS)
      throw new Error(`no ${MARKER} in ${file} after ${TIMEOUT_MS} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** RSS of the QEMU process of a running domain (libvirt writes its pid file). */
function qemuRss(domain: string): number | null {
  try {
    const pid = Number(readFileSync(`/run/libvirt/qemu/${domain}.pid`, 'utf8').trim());
    return rssMiB(pid);
  } catch {
    return null;
  }
}

const median = (xs: number[]) =>
  percentile(
    [...xs].sort((a, b) => a - b),
    50,
  );
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function main(): Promise<void> {
  console.log(
    `bench:kvm on ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), ${RUNS} runs each`,
  );
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const hw = /\b(vmx|svm)\b/.test(cpuinfo);
  console.log(
    `  hardware virtualisation: ${hw ? 'yes (KVM)' : 'no vmx/svm flag: guests run under TCG emulation'}` +
      `, /dev/kvm ${existsSync('/dev/kvm') ? 'present' : 'absent'}`,
  );
  await buildTestGuest();
  await buildAll();
  process.env.STRATO_RUN_COMPILED = '1';

  const work = mkdtempSync(join(tmpdir(), 'strato-bench-kvm-'));
  chmodSync(work, 0o755);
  const instancesDir = join(work, 'instances');
  const bareDir = join(work, 'bare');
  mkdirSync(instancesDir, { mode: 0o755 });
  mkdirSync(bareDir, { mode: 0o755 });
  let stack: ComputeStack | null = null;
  const bareDomains: string[] = [];
  try {
    stack = await startComputeStack();
    const [agent] = await stack.startAgents({
      hosts: ['bench-kvm'],
      env: {
        LIBVIRT_URI: 'qemu:///system',
        LIBVIRT_VIRT_TYPE: 'auto',
        INSTANCES_DIR: instancesDir,
        IMAGE_URL: stack.env.IMAGE_PUBLIC_URL!,
        RESERVED_HOST_MEMORY_MB: '0',
        SHUTDOWN_GRACE_MS: '0',
      },
    });
    const auth = await adminToken(stack.identityUrl, stack.password);
    const api = new ComputeApi(stack.computeUrl, auth.token);
    const headers = { 'x-auth-token': auth.token };
    const upload = async (name: string, file: string, disk: string, container: string, extra = {}) => {
      const res = await fetch(`${stack!.env.IMAGE_PUBLIC_URL}/v2/images`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify({ name, disk_format: disk, container_format: container, ...extra }),
      });
      const id = ((await res.json()) as { id: string }).id;
      const put = await fetch(`${stack!.env.IMAGE_PUBLIC_URL}/v2/images/${id}/file`, {
        method: 'PUT',
        headers: { ...headers, 'content-type': 'application/octet-stream' },
        body: readFileSync(join(GUEST_DIR, file)),
      });
      if (put.status !== 204) throw new Error(`upload ${name}: ${put.status}`);
      return id;
    };
    const kernel = await upload('bench-kernel', 'vmlinuz', 'aki', 'aki');
    const ramdisk = await upload('bench-ramdisk', 'initrd.img', 'ari', 'ari');
    const image = await upload('bench-guest', 'disk.qcow2', 'qcow2', 'bare', {
      kernel_id: kernel,
      ramdisk_id: ramdisk,
      os_command_line: 'console=ttyS0 root=/dev/vda rw quiet panic=-1',
    });
    const flavor = (
      await api.ok<{ flavor: { id: string } }>('POST', '/flavors', {
        flavor: { name: 'bench.guest', vcpus: 1, ram: 128, disk: 1 },
      })
    ).flavor.id;

    const stackTimes: number[] = [];
    const bareTimes: number[] = [];
    const guestRss: number[] = [];
    let template: string | null = null;
    let templateDir = '';
    let base: { file: string; format: string } | null = null;
    let firstBoot = 0;

    // One boot first (not counted): it fills the host's image cache, as any later boot finds it.
    for (let i = -1; i < RUNS; i++) {
      // --- through the stack
      const started = performance.now();
      const created = await api.ok<{ server: { id: string } }>('POST', '/servers', {
        server: { name: `bench-${i + 1}`, flavorRef: flavor, imageRef: image },
      });
      const id = created.server.id;
      const ms = await waitForMarker(join(instancesDir, id, 'console.log'), started);
      if (i < 0) firstBoot = ms;
      else stackTimes.push(ms);
      const rss = qemuRss(`instance-${id}`);
      if (rss !== null && i >= 0) guestRss.push(rss);
      if (template === null) {
        template = await virsh('dumpxml', '--inactive', `instance-${id}`);
        const info = JSON.parse(
          (await run('qemu-img', ['info', '-U', '--output=json', join(instancesDir, id, 'disk')])).stdout,
        ) as { 'full-backing-filename'?: string; 'backing-filename-format'?: string };
        base = {
          file: info['full-backing-filename'] ?? join(GUEST_DIR, 'disk.qcow2'),
          format: info['backing-filename-format'] ?? 'qcow2',
        };
        // Kept for the bare runs (the agent removes its instance files on delete): everything
        // the domain uses from the instance directory but its disk and console log.
        templateDir = join(instancesDir, id);
        mkdirSync(join(bareDir, 'template'), { mode: 0o755 });
        for (const f of readdirSync(templateDir)) {
          if (f !== 'disk' && f !== 'console.log')
            copyFileSync(join(templateDir, f), join(bareDir, 'template', f));
        }
      }
      await api.ok('DELETE', `/servers/${id}`);
      for (;;) {
        if ((await api.call('GET', `/servers/${id}`)).status === 404) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      if (i < 0) continue;

      // --- bare libvirt: the same domain, a fresh overlay on the same base, its own serial file
      const name = `strato-bench-bare-${i + 1}`;
      const dir = join(bareDir, name);
      mkdirSync(dir, { mode: 0o755 });
      for (const f of readdirSync(join(bareDir, 'template'))) {
        copyFileSync(join(bareDir, 'template', f), join(dir, f));
      }
      await run('qemu-img', [
        'create',
        '-q',
        '-f',
        'qcow2',
        '-F',
        base!.format,
        '-b',
        base!.file,
        join(dir, 'disk'),
        '1G',
      ]);
      const log = join(dir, 'console.log');
      const xml = template
        .replace(/<uuid>[^<]*<\/uuid>/, `<uuid>${randomUUID()}</uuid>`)
        .replace(/<name>[^<]*<\/name>/, `<name>${name}</name>`)
        .split(`${templateDir}/`)
        .join(`${dir}/`);
      const xmlFile = join(dir, 'domain.xml');
      writeFileSync(xmlFile, xml);
      const bareStarted = performance.now();
      await virsh('create', xmlFile);
      bareDomains.push(name);
      bareTimes.push(await waitForMarker(log, bareStarted));
      await virsh('destroy', name).catch(() => undefined);
    }

    console.log(`\n  first boot (fills the host's image cache): ${seconds(firstBoot)}`);
    console.log(
      `  POST /servers → ready marker, through the stack: median ${seconds(median(stackTimes))}   (${stackTimes.map(seconds).join(', ')})`,
    );
    console.log(
      `  the same guest started directly by libvirt:      median ${seconds(median(bareTimes))}   (${bareTimes.map(seconds).join(', ')})`,
    );
    console.log(
      `  stack / bare: ${(median(stackTimes) / median(bareTimes)).toFixed(3)}  (the stack adds ${((median(stackTimes) / median(bareTimes) - 1) * 100).toFixed(1)}%)`,
    );
    console.log(`  QEMU RSS per guest (128 MiB guest): median ${median(guestRss).toFixed(0)} MiB`);
    console.log(`  compute agent RSS: ${rssMiB(agent!.child.pid!).toFixed(0)} MiB`);
  } finally {
    for (const d of bareDomains) await virsh('destroy', d).catch(() => undefined);
    await stack?.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

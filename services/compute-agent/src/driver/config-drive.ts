/**
 * The config drive: an ISO 9660 volume labelled 'config-2' with OpenStack's metadata layout,
 * which cloud-init style guests read to configure themselves without a metadata server.
 *
 *   openstack/<version>/meta_data.json   uuid, name, hostname, project_id, launch_index,
 *                                         availability_zone, meta, public_keys, keys
 *   openstack/<version>/user_data        the server's user data, decoded (when given)
 *   openstack/<version>/vendor_data.json {}
 *   openstack/<version>/network_data.json  {links, networks, services}: empty (DHCP)
 *
 * <version> is 'latest' and a dated copy, as guests look for either. configDriveFiles is pure;
 * writeConfigDrive stages the files in a directory and runs genisoimage (execFile, an argument
 * array: no shell ever sees user data).
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { AppError } from '@strato/errors';

const run = promisify(execFile);

export const CONFIG_DRIVE_LABEL = 'config-2';
/** The metadata versions written: guests read 'latest' or the newest dated one they know. */
export const CONFIG_DRIVE_VERSIONS = ['latest', '2013-10-17'] as const;

export interface ConfigDriveInput {
  instanceId: string;
  displayName: string;
  projectId: string;
  availabilityZone: string;
  metadata: Readonly<Record<string, string>>;
  /** Base64, as the API accepted it. */
  userData: string | null;
  keyName: string | null;
  keyData: string | null;
}

export interface ConfigDriveFile {
  /** Relative path inside the volume, '/'-separated. */
  path: string;
  data: Buffer;
}

/**
 * A hostname from the display name: lower case, spaces and underscores become '-', anything
 * but [a-z0-9.-] is dropped, no leading or trailing '.' or '-', at most 63 characters. Nothing
 * left: 'server-<uuid>'.
 */
export function sanitizeHostname(displayName: string, instanceId: string): string {
  const name = displayName
    .toLowerCase()
    .replace(/[\s_]+/g, '-')
    .replace(/[^a-z0-9.-]/g, '')
    .replace(/\.{2,}/g, '.')
    .replace(/-{2,}/g, '-')
    .slice(0, 63)
    .replace(/^[.-]+|[.-]+$/g, '');
  return name.length > 0 ? name : `server-${instanceId}`;
}

/** The meta_data.json document. */
export function metaData(input: ConfigDriveInput): Record<string, unknown> {
  const keyName = input.keyName ?? 'key';
  const doc: Record<string, unknown> = {
    uuid: input.instanceId,
    name: input.displayName,
    hostname: sanitizeHostname(input.displayName, input.instanceId),
    project_id: input.projectId,
    launch_index: 0,
    availability_zone: input.availabilityZone,
    meta: { ...input.metadata },
  };
  if (input.keyData !== null) {
    doc.public_keys = { [keyName]: input.keyData };
    doc.keys = [{ name: keyName, type: 'ssh', data: input.keyData }];
  }
  return doc;
}

/** Every file of the volume, for each metadata version. */
export function configDriveFiles(input: ConfigDriveInput): ConfigDriveFile[] {
  const json = (value: unknown) => Buffer.from(`${JSON.stringify(value)}\n`, 'utf8');
  const userData = input.userData === null ? null : Buffer.from(input.userData, 'base64');
  return CONFIG_DRIVE_VERSIONS.flatMap((version) => {
    const base = `openstack/${version}`;
    const files: ConfigDriveFile[] = [
      { path: `${base}/meta_data.json`, data: json(metaData(input)) },
      { path: `${base}/vendor_data.json`, data: json({}) },
      { path: `${base}/network_data.json`, data: json({ links: [], networks: [], services: [] }) },
    ];
    if (userData !== null) files.push({ path: `${base}/user_data`, data: userData });
    return files;
  });
}

/**
 * Writes the ISO to `isoPath` (mode 0600: it carries user data; libvirt hands it to QEMU).
 * `stagingDir` is created, filled and removed again, whatever happens.
 */
export async function writeConfigDrive(
  files: readonly ConfigDriveFile[],
  isoPath: string,
  stagingDir: string,
): Promise<void> {
  await rm(stagingDir, { recursive: true, force: true });
  try {
    for (const file of files) {
      const target = join(stagingDir, ...file.path.split('/'));
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, file.data, { mode: 0o600 });
    }
    await run(
      'genisoimage',
      [
        '-o',
        isoPath,
        '-V',
        CONFIG_DRIVE_LABEL,
        '-J',
        '-r',
        '-l',
        '-ldots',
        '-allow-lowercase',
        '-allow-multidot',
        '-quiet',
        stagingDir,
      ],
      { timeout: 60_000 },
    ).catch((err: NodeJS.ErrnoException & { stderr?: string }) => {
      const detail =
        err.code === 'ENOENT' ? 'genisoimage is not installed' : (err.stderr ?? err.message).trim();
      throw new AppError('Internal', `Could not build the config drive: ${detail}`);
    });
    await chmod(isoPath, 0o600);
  } finally {
    await rm(stagingDir, { recursive: true, force: true });
  }
}

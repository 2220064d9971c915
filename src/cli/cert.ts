/**
 * `ssehub cert`: writes a self-signed certificate and its private key, to try the hub over HTTPS
 * and HTTP/2 on one machine:
 *   ssehub cert && ssehub serve --tls-cert ssehub-cert.pem --tls-key ssehub-key.pem
 * Node can make keys but cannot sign an X.509 certificate, so this runs the system's `openssl`.
 */
import { execFile } from 'node:child_process';
import { chmod, constants, copyFile, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { argumentError, CliError, parseFlags } from './common.js';

export const CERT_FILE = 'ssehub-cert.pem';
export const KEY_FILE = 'ssehub-key.pem';
export const DEFAULT_HOSTS: readonly string[] = ['localhost', '127.0.0.1', '::1'];
const DEFAULT_DAYS = 30;

export const CERT_HELP = `Usage: ssehub cert [options]

Writes a self-signed TLS certificate (${CERT_FILE}) and its private key (${KEY_FILE}, ECDSA
P-256, readable by you only) for local use, and prints the command that serves HTTP/2 and HTTPS
with them. A browser warns about a self-signed certificate until you trust it; never use one in
production. Needs the openssl command.

Options:
  --out <dir>        Directory to write the two files to (default: the current directory).
  --host <a,b>       Names and IP addresses the certificate is valid for (repeatable or
                     comma-separated; default ${DEFAULT_HOSTS.join(',')}).
  --days <n>         Days the certificate stays valid (default ${DEFAULT_DAYS}).
  --force            Overwrite existing files.
  --help             Show this help.

Exit status: 0 written; 1 a file exists (without --force) or openssl failed or is missing;
2 bad arguments.
`;

export interface CertificateOptions {
  /** Directory to write to; created if missing. */
  dir: string;
  hosts?: readonly string[];
  days?: number;
  force?: boolean;
}

export interface CertificateFiles {
  certFile: string;
  keyFile: string;
  hosts: string[];
  days: number;
}

/** A DNS name (a leading "*." allowed) whose labels are letters, digits and inner hyphens. */
const DNS_NAME = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

export async function certCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      host: { type: 'string', multiple: true },
      days: { type: 'string' },
      force: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(CERT_HELP);
    return 0;
  }
  if (positionals.length > 0) throw argumentError(`Unexpected argument "${positionals[0]}"; see ssehub cert --help.`);
  const hosts = values.host?.flatMap((item) => item.split(',').map((host) => host.trim()).filter((host) => host !== ''));
  let days = DEFAULT_DAYS;
  if (values.days !== undefined) {
    days = Number(values.days);
    if (!/^\d+$/.test(values.days) || days < 1 || days > 3650) throw argumentError(`--days: "${values.days}" is not a whole number from 1 to 3650.`);
  }
  const made = await makeCertificate({ dir: values.out ?? '.', ...(hosts === undefined ? {} : { hosts }), days, force: values.force === true });
  process.stdout.write(
    `Wrote ${made.certFile} (self-signed, valid ${made.days} days for ${made.hosts.join(', ')})\n` +
      `  and ${made.keyFile} (its private key).\n` +
      `Serve HTTP/2 and HTTPS with:\n  ssehub serve --tls-cert ${made.certFile} --tls-key ${made.keyFile}\n`,
  );
  return 0;
}

/**
 * Makes the certificate and key with openssl in a private temporary directory, then copies them
 * into place: without `force`, an existing file is never overwritten (checked first, and again by
 * the copy itself, which refuses to replace a file that appeared meanwhile).
 */
export async function makeCertificate(options: CertificateOptions): Promise<CertificateFiles> {
  const hosts = [...(options.hosts ?? DEFAULT_HOSTS)];
  if (hosts.length === 0) throw argumentError('--host: name at least one host name or IP address.');
  const subjectAltNames = hosts.map((host) => {
    if (isIP(host) !== 0) return `IP:${host}`;
    if (DNS_NAME.test(host) && host.length <= 253) return `DNS:${host}`;
    throw argumentError(`--host: "${host}" is neither an IP address nor a host name.`);
  });
  const days = options.days ?? DEFAULT_DAYS;
  const dir = resolve(options.dir);
  const certFile = join(dir, CERT_FILE);
  const keyFile = join(dir, KEY_FILE);
  if (!options.force) {
    for (const file of [certFile, keyFile]) {
      if (await exists(file)) throw alreadyExists(file);
    }
  }
  await mkdir(dir, { recursive: true });
  const work = await mkdtemp(join(tmpdir(), 'ssehub-cert-'));
  try {
    const workCert = join(work, CERT_FILE);
    const workKey = join(work, KEY_FILE);
    await runOpenssl([
      'req', '-x509',
      '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days', String(days),
      '-subj', `/CN=${hosts[0]}`,
      '-addext', `subjectAltName=${subjectAltNames.join(',')}`,
      '-keyout', workKey,
      '-out', workCert,
    ]);
    // The key is private from the moment it exists in its final place: copyFile keeps this mode.
    await chmod(workKey, 0o600);
    const mode = options.force ? 0 : constants.COPYFILE_EXCL;
    for (const [from, to] of [[workKey, keyFile], [workCert, certFile]] as const) {
      try {
        await copyFile(from, to, mode);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw alreadyExists(to);
        throw new CliError(`Cannot write ${to}: ${(error as Error).message}`, 'cert_write_failed');
      }
    }
    await chmod(keyFile, 0o600);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return { certFile, keyFile, hosts, days };
}

function runOpenssl(args: string[]): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    execFile('openssl', args, { timeout: 30_000 }, (error, _stdout, stderr) => {
      if (!error) return resolvePromise();
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(
          new CliError(
            'The openssl command was not found; it is needed to sign a certificate. Install OpenSSL (e.g. apt-get install openssl, ' +
              'brew install openssl) or make the certificate elsewhere and pass it to ssehub serve --tls-cert/--tls-key.',
            'openssl_missing',
          ),
        );
        return;
      }
      reject(new CliError(`openssl could not make the certificate: ${String(stderr).trim() || error.message}`, 'openssl_failed'));
    });
  });
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

function alreadyExists(path: string): CliError {
  return new CliError(`${path} already exists; pass --force to overwrite it.`, 'file_exists');
}

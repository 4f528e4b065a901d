import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface IssuedCert {
  key: string;
  cert: string;
  /** Path of the PEM certificate, for configs that take a file. */
  certPath: string;
}

export interface IssueOptions {
  commonName: string;
  /** subjectAltName entries, e.g. ['IP:127.0.0.1', 'DNS:localhost']. */
  altNames?: string[];
  notBefore: Date;
  notAfter: Date;
}

/** openssl's YYYYMMDDHHMMSSZ. */
function asn1Time(d: Date): string {
  return d.toISOString().replace(/[-:T]/g, '').replace(/\.\d+Z$/, 'Z');
}

const DAY = 86_400_000;

/**
 * A throw-away certificate authority made with the openssl CLI, so tests can present chains, expired and
 * almost-expired certificates and a "hosting provider" self-signed certificate on a real TLS server. `openssl ca`
 * is used because it, unlike `openssl x509` in OpenSSL 3.0, sets arbitrary notBefore/notAfter dates.
 */
export class TestPki {
  private serial = 1;
  /** The last `openssl ca` run: signings of one CA run one after another. */
  private signing: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly dir: string,
    readonly caCertPath: string,
    private readonly caKeyPath: string,
  ) {}

  static async create(caName = 'Portal Test CA'): Promise<TestPki> {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'pf-pki-'));
    await fs.mkdir(path.join(dir, 'issued'));
    await fs.writeFile(path.join(dir, 'index.txt'), '');
    await fs.writeFile(path.join(dir, 'serial'), '01\n');
    await fs.writeFile(
      path.join(dir, 'ca.cnf'),
      [
        '[ ca ]',
        'default_ca = test_ca',
        '[ test_ca ]',
        `dir = ${dir}`,
        'database = $dir/index.txt',
        'new_certs_dir = $dir/issued',
        'serial = $dir/serial',
        'default_md = sha256',
        'policy = any_subject',
        'unique_subject = no',
        'copy_extensions = copy',
        '[ any_subject ]',
        'organizationName = optional',
        'commonName = supplied',
        '',
      ].join('\n'),
    );
    const caKeyPath = path.join(dir, 'ca.key');
    const caCertPath = path.join(dir, 'ca.pem');
    await run('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', caKeyPath, '-out', caCertPath, '-days', '3650',
      '-subj', `/O=Portal Failover Tests/CN=${caName}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    return new TestPki(dir, caCertPath, caKeyPath);
  }

  async caPem(): Promise<string> {
    return fs.readFile(this.caCertPath, 'utf8');
  }

  /** A leaf signed by this CA, valid between the given dates. */
  async issue(o: IssueOptions): Promise<IssuedCert> {
    const n = this.serial++;
    const keyPath = path.join(this.dir, `leaf-${n}.key`);
    const csrPath = path.join(this.dir, `leaf-${n}.csr`);
    const certPath = path.join(this.dir, `leaf-${n}.pem`);
    const sans = o.altNames ?? ['IP:127.0.0.1', 'DNS:localhost'];
    await run('openssl', [
      'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', keyPath, '-out', csrPath, '-subj', `/CN=${o.commonName}`,
      '-addext', `subjectAltName=${sans.join(',')}`,
    ]);
    // `openssl ca` rewrites the CA's serial and index files by renaming; two at once in one CA directory race
    // (seen as "Unable to rename serial.new to serial" when a test issued several certificates with Promise.all).
    const signed = this.signing.then(() => run('openssl', [
      'ca', '-batch', '-config', path.join(this.dir, 'ca.cnf'), '-cert', this.caCertPath, '-keyfile', this.caKeyPath,
      '-in', csrPath, '-out', certPath, '-notext', '-startdate', asn1Time(o.notBefore), '-enddate', asn1Time(o.notAfter),
    ]));
    this.signing = signed.catch(() => undefined);
    await signed;
    return { key: await fs.readFile(keyPath, 'utf8'), cert: await fs.readFile(certPath, 'utf8'), certPath };
  }

  /** A leaf valid from yesterday for `days` days (negative: it expired that many days ago). */
  async issueForDays(commonName: string, days: number, altNames?: string[]): Promise<IssuedCert> {
    const now = Date.now();
    const notAfter = new Date(now + days * DAY);
    const notBefore = new Date(Math.min(now, notAfter.getTime()) - 30 * DAY);
    return this.issue({ commonName, altNames, notBefore, notAfter });
  }

  /** A self-signed certificate for the same address, as a hosting provider's interception or suspension proxy has. */
  async selfSigned(commonName: string, altNames = ['IP:127.0.0.1', 'DNS:localhost']): Promise<IssuedCert> {
    const n = this.serial++;
    const keyPath = path.join(this.dir, `self-${n}.key`);
    const certPath = path.join(this.dir, `self-${n}.pem`);
    await run('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', keyPath, '-out', certPath, '-days', '90', '-subj', `/CN=${commonName}`,
      '-addext', `subjectAltName=${altNames.join(',')}`,
    ]);
    return { key: await fs.readFile(keyPath, 'utf8'), cert: await fs.readFile(certPath, 'utf8'), certPath };
  }

  async remove(): Promise<void> {
    await fs.rm(this.dir, { recursive: true, force: true });
  }
}

'use strict';
// Node interop: @grpc/grpc-js against the real wxtokend.
//
// Starts the real wechat-sandbox and the real wxtokend on 127.0.0.1 (ports
// picked by the processes themselves) and calls wxtoken.v1 and grpc.health.v1
// with the .proto files loaded at run time from proto/, as a Node service
// would. Every wait is bounded and every RPC has a deadline.
//
// ctest runs `node --test interop.test.js` with the binaries' paths in
// WXTOKEND and WECHAT_SANDBOX; `npm ci` here (scripts/setup-test-tools.sh)
// installs the pinned packages. With WXTOKEN_INTEROP_MTLS=1 (the test
// node_interop_mtls) every test runs over mTLS instead: certificates made
// with openssl at test time, the client granted by `callers`.

const assert = require('node:assert/strict');
const {execFileSync, spawn} = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const {after, before, test} = require('node:test');
const {setTimeout: sleep} = require('node:timers/promises');

function requireInstalled(name) {
  try {
    return require(name);
  } catch (error) {
    throw new Error(`${name} is missing: run scripts/setup-test-tools.sh ` +
                    `(npm ci in tests/interop/node): ${error.message}`);
  }
}
const grpc = requireInstalled('@grpc/grpc-js');
const protoLoader = requireInstalled('@grpc/proto-loader');
// WeCom's own crypto library: what a WeCom callback is made with.
const wecomCrypto = requireInstalled('@wecom/crypto');

// Generous bounds for a loaded 2-core machine: they only cap how long a broken
// run waits, never how fast a good one must be.
const START_TIMEOUT_MS = 30000;
const RPC_DEADLINE_MS = 10000;
const STOP_TIMEOUT_MS = 30000;

const APP_ID = 'wxinteropnode0001';
const CORP_ID = 'wwinteropnode0001';
const WECOM_APP = `${CORP_ID}/1000002`;
const WECOM_TOKEN = 'WeComInteropToken';
// An EncodingAESKey: 43 base64 characters of 32 random bytes.
const WECOM_AES_KEY = crypto.randomBytes(32).toString('base64').slice(0, 43);
const MTLS = process.env.WXTOKEN_INTEROP_MTLS === '1';
const SERVER_NAME = 'wxtokend.test';
const PRINCIPAL = 'spiffe://test.local/ns/shop/sa/node';
const PROTO_DIR = path.resolve(__dirname, '../../../proto');

function binary(envName) {
  const value = process.env[envName];
  if (!value) throw new Error(`${envName} is not set (ctest sets it)`);
  return value;
}

// Resolves with match(line) for the first line of `stream` where it is not
// undefined; rejects when the stream ends or `timeoutMs` passes first.
function waitForLine(stream, match, timeoutMs, what) {
  return new Promise((resolve, reject) => {
    const lines = readline.createInterface({input: stream});
    const seen = [];
    const finish = (settle, value) => {
      clearTimeout(timer);
      lines.removeAllListeners('line');
      lines.removeAllListeners('close');
      // Keep draining, so the child never blocks on a full pipe.
      lines.on('line', () => {});
      settle(value);
    };
    const timer = setTimeout(
        () => finish(reject, new Error(`${what}: timed out; saw:\n` +
                                       seen.join('\n'))),
        timeoutMs);
    lines.on('line', (line) => {
      seen.push(line);
      const found = match(line);
      if (found !== undefined) finish(resolve, found);
    });
    lines.on('close', () => finish(reject, new Error(
                                      `${what}: output ended; saw:\n` +
                                      seen.join('\n'))));
  });
}

function sandboxPort(line) {
  const match = /^listening 127\.0\.0\.1:(\d+)$/.exec(line);
  return match ? match[1] : undefined;
}

function wxtokendPort(line) {
  let entry;
  try {
    entry = JSON.parse(line);
  } catch {
    return undefined;
  }
  return entry && entry.msg === 'listening' ? entry.grpc_port : undefined;
}

// SIGTERM, then SIGKILL when the child does not exit in time.
async function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

// A unary call as a promise, always with a deadline.
function call(client, method, request) {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + RPC_DEADLINE_MS;
    client[method](request, {deadline}, (error, response) => {
      if (error) reject(error);
      else resolve(response);
    });
  });
}

function openssl(...args) {
  execFileSync('/usr/bin/openssl', args,
               {stdio: 'ignore', timeout: START_TIMEOUT_MS});
}

const NEW_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
                 '-nodes'];

// A CA and two leaf certificates (the server's, this client's) in `dir`.
function makeCertificates(dir) {
  const file = (name) => path.join(dir, name);
  openssl('req', '-x509', ...NEW_KEY, '-keyout', file('ca.key'), '-out',
          file('ca.crt'), '-days', '1', '-subj', '/CN=interop-ca', '-addext',
          'basicConstraints=critical,CA:TRUE', '-addext',
          'keyUsage=critical,keyCertSign,cRLSign');
  for (const [name, san] of [['server', `DNS:${SERVER_NAME}`],
                             ['client', `URI:${PRINCIPAL}`]]) {
    openssl('req', ...NEW_KEY, '-keyout', file(`${name}.key`), '-out',
            file(`${name}.csr`), '-subj', `/CN=${name}`);
    fs.writeFileSync(file(`${name}.ext`),
                     'basicConstraints=CA:FALSE\n' +
                         'extendedKeyUsage=serverAuth,clientAuth\n' +
                         `subjectAltName=${san}\n`);
    openssl('x509', '-req', '-in', file(`${name}.csr`), '-CA', file('ca.crt'),
            '-CAkey', file('ca.key'), '-CAcreateserial', '-days', '1',
            '-extfile', file(`${name}.ext`), '-out', file(`${name}.crt`));
  }
  return file;
}

const children = [];
const clients = [];
let workDir;
let tokenController;
let health;
let address;
let loaded;

// Last resort should `after` never run: no child outlives the test process.
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

before(async () => {
  const definition = protoLoader.loadSync(
      ['wxtoken/v1/token_controller.proto', 'grpc/health/v1/health.proto'], {
        includeDirs: [PROTO_DIR],
        keepCase: true,   // field names as in the .proto: app_id
        longs: String,    // uint64 generation, int64 seconds
        enums: String,    // 'TOKEN_KIND_ACCESS_TOKEN', 'SERVING'
        defaults: true,
      });
  loaded = grpc.loadPackageDefinition(definition);

  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wxtoken-interop-node-'));
  const secret = crypto.randomBytes(16).toString('hex');  // never printed
  const sandbox = spawn(
      binary('WECHAT_SANDBOX'),
      ['--listen=127.0.0.1:0', `--app=${APP_ID}:${secret}`,
       `--wecom_app=${WECOM_APP}:${secret}`],
      {stdio: ['ignore', 'pipe', 'inherit']});
  children.push(sandbox);
  const sandboxListens = await waitForLine(
      sandbox.stdout, sandboxPort, START_TIMEOUT_MS, 'wechat-sandbox port');

  const secretFile = path.join(workDir, 'app.secret');
  fs.writeFileSync(secretFile, secret + '\n', {mode: 0o600});
  const serverTokenFile = path.join(workDir, 'app.server_token');
  fs.writeFileSync(serverTokenFile, 'AAAAA\n', {mode: 0o600});
  const wecomTokenFile = path.join(workDir, 'wecom.server_token');
  fs.writeFileSync(wecomTokenFile, WECOM_TOKEN + '\n', {mode: 0o600});
  const wecomKeyFile = path.join(workDir, 'wecom.aes_key');
  fs.writeFileSync(wecomKeyFile, WECOM_AES_KEY + '\n', {mode: 0o600});
  const certificate = MTLS ? makeCertificates(workDir) : null;
  const security = !MTLS ? [] : [
    'tls:',
    `  cert_file: "${certificate('server.crt')}"`,
    `  key_file: "${certificate('server.key')}"`,
    `  client_ca_file: "${certificate('ca.crt')}"`,
    'callers:',
    `  - principal: "${PRINCIPAL}"`,
    '    apps: ["*"]',
    '    methods: ["*"]',
  ];
  const config = path.join(workDir, 'wxtokend.yaml');
  fs.writeFileSync(config, [
    'listen: "127.0.0.1:0"',
    'metrics_listen: ""',
    'state_dir: ""',
    ...security,
    'upstream:',
    `  base_urls: ["http://127.0.0.1:${sandboxListens}"]`,
    // ForceRefresh waits no longer than a deadline allows.
    'refresh:',
    '  force_min_interval: "1s"',
    'apps:',
    `  - app_id: "${APP_ID}"`,
    `    secret_file: "${secretFile}"`,
    `    server_token_file: "${serverTokenFile}"`,
    'wecom:',
    `  base_urls: ["http://127.0.0.1:${sandboxListens}"]`,
    '  corps:',
    `    - corp_id: "${CORP_ID}"`,
    '      agents:',
    '        - agent: "1000002"',
    `          secret_file: "${secretFile}"`,
    `          server_token_file: "${wecomTokenFile}"`,
    `          encoding_aes_key_file: "${wecomKeyFile}"`,
    '',
  ].join('\n'));

  const wxtokend = spawn(binary('WXTOKEND'), ['--config', config],
                         {stdio: ['ignore', 'inherit', 'pipe']});
  children.push(wxtokend);
  const grpcPort = await waitForLine(
      wxtokend.stderr, wxtokendPort, START_TIMEOUT_MS, 'wxtokend port');

  address = `127.0.0.1:${grpcPort}`;
  const credentials = !MTLS ? grpc.credentials.createInsecure() :
                              grpc.credentials.createSsl(
                                  fs.readFileSync(certificate('ca.crt')),
                                  fs.readFileSync(certificate('client.key')),
                                  fs.readFileSync(certificate('client.crt')));
  const options = MTLS ? {'grpc.ssl_target_name_override': SERVER_NAME} : {};
  tokenController =
      new loaded.wxtoken.v1.TokenController(address, credentials, options);
  health = new loaded.grpc.health.v1.Health(address, credentials, options);
  clients.push(tokenController, health);
});

after(async () => {
  for (const client of clients) client.close();
  for (const child of children.reverse()) await stopChild(child);
  if (workDir) fs.rmSync(workDir, {recursive: true, force: true});
});

// Health status name of `service`, or the RPC error's code.
async function check(service) {
  try {
    return (await call(health, 'Check', {service})).status;
  } catch (error) {
    return `error ${error.code}`;
  }
}

// Polls Check("") until SERVING (bounded); returns the last answer.
async function waitForServing() {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let status = await check('');
  while (status !== 'SERVING' && Date.now() < deadline) {
    await sleep(50);
    status = await check('');
  }
  return status;
}

test('grpc.health.v1 Check("") reaches SERVING', async () => {
  assert.equal(await waitForServing(), 'SERVING');
  assert.equal(await check('wxtoken.v1.TokenController'), 'SERVING');
});

test('GetToken returns the first token', async () => {
  assert.equal(await waitForServing(), 'SERVING');
  const {token} = await call(tokenController, 'GetToken', {app_id: APP_ID});
  assert.equal(token.app_id, APP_ID);
  assert.equal(token.kind, 'TOKEN_KIND_ACCESS_TOKEN');
  assert.notEqual(token.value, '');
  assert.equal(token.generation, '1');
  const {seconds, nanos} = token.max_cache;
  const maxCacheNanos = BigInt(seconds) * 1000000000n + BigInt(nanos);
  assert.ok(maxCacheNanos > 0n, `max_cache ${JSON.stringify(token.max_cache)}`);
});

test('WatchToken streams the current token, then the refreshed one', async () => {
  assert.equal(await waitForServing(), 'SERVING');
  const {token: current} =
      await call(tokenController, 'GetToken', {app_id: APP_ID});
  const stream = tokenController.WatchToken(
      {app_id: APP_ID}, {deadline: Date.now() + RPC_DEADLINE_MS});
  const seen = [];
  const refreshed = new Promise((resolve, reject) => {
    stream.on('data', ({token}) => {
      seen.push(token);
      if (token.generation !== current.generation) resolve(token);
    });
    stream.on('error', reject);
  });
  // The first message, at once: the Token GetToken gave.
  await new Promise((resolve) => stream.once('data', resolve));
  assert.equal(seen[0].value, current.value);
  assert.equal(seen[0].generation, current.generation);
  const {token: fresh} = await call(tokenController, 'ForceRefresh', {
    app_id: APP_ID, stale_value: current.value, wechat_errcode: 40001});
  const pushed = await refreshed;
  assert.equal(pushed.value, fresh.value);
  assert.equal(pushed.generation, fresh.generation);
  stream.cancel();
});

test('GetToken of an unknown app is NOT_FOUND', async () => {
  await assert.rejects(
      call(tokenController, 'GetToken', {app_id: 'wxunknownapp00000'}),
      (error) => error.code === grpc.status.NOT_FOUND);
});

// WeCom's callback URL check, made by WeCom's own library: wxtokend
// answers the decrypted echostr.
test('DecryptMessage answers a WeCom URL check @wecom/crypto made', async () => {
  const plain = crypto.randomBytes(8).readBigUInt64BE().toString();
  const echostr = wecomCrypto.encrypt(WECOM_AES_KEY, plain, CORP_ID);
  const timestamp = String(Math.floor(Date.now() / 1000));
  const nonce = crypto.randomBytes(6).toString('hex');
  const reply = await call(tokenController, 'DecryptMessage', {
    app_id: WECOM_APP,
    msg_signature: wecomCrypto.getSignature(WECOM_TOKEN, timestamp, nonce,
                                            echostr),
    timestamp,
    nonce,
    echostr,
  });
  assert.equal(reply.plaintext, plain);
  // And a reply wxtokend encrypts opens with @wecom/crypto.
  const encrypted = await call(tokenController, 'EncryptReply', {
    app_id: WECOM_APP,
    plaintext: '<xml><Content>ok</Content></xml>',
    key: reply.key,
  });
  assert.equal(
      encrypted.msg_signature,
      wecomCrypto.getSignature(WECOM_TOKEN, encrypted.timestamp,
                               encrypted.nonce, encrypted.encrypt));
  const opened = wecomCrypto.decrypt(WECOM_AES_KEY, encrypted.encrypt);
  assert.equal(opened.message, '<xml><Content>ok</Content></xml>');
  assert.equal(opened.id, CORP_ID);
});

// Only in the mTLS run (registered only there: no skipped test).
if (MTLS) test('mTLS: plaintext is refused', async () => {
  assert.equal(await waitForServing(), 'SERVING');
  const plaintext = new loaded.wxtoken.v1.TokenController(
      address, grpc.credentials.createInsecure());
  clients.push(plaintext);
  await assert.rejects(
      call(plaintext, 'GetToken', {app_id: APP_ID}),
      (error) => error.code === grpc.status.UNAVAILABLE);
});

// The ceiling: a bare Fastify server that echoes a JSON POST body. Same framework, same
// loopback, same client as the relay, but no auth, validation, rate limit, journal or fsync.
// Prints {"port":N} on stdout once listening; exits on SIGTERM.
import Fastify from 'fastify';

async function main() {
  const app = Fastify({ logger: false });
  app.post('/echo', async (req) => req.body);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  process.stdout.write(JSON.stringify({ port: typeof addr === 'object' && addr ? addr.port : 0 }) + '\n');
  process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
}

void main();

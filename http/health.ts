// GET /health and the relay's identity document.
import type { FastifyInstance } from 'fastify';

export const RELAY_VERSION = '0.1.0';

export default async function healthRoutes(app: FastifyInstance) {
  const started = Date.now();
  const { core } = app.services;

  app.get('/health', async () => ({
    success: true,
    status: 'ok',
    version: RELAY_VERSION,
    uptime_s: Math.round((Date.now() - started) / 1000),
    journal: { ok: true, actors_loaded: core.registry.size },
    parked_polls: core.waiters.parkedCount,
    websockets: app.services.live.websockets(),
    capabilities: app.services.media.capabilities(),
    engine_jobs: app.services.media.audio.jobs.load,
  }));

  app.get('/.well-known/pchat-relay', async () => ({
    success: true,
    name: core.config.relayName,
    mode: core.config.relayMode,
    version: RELAY_VERSION,
    public_key: core.identity.publicKeyB64,
    key_algorithm: 'ed25519',
    key_created_at: core.identity.createdAt,
    api: '/api/v1',
  }));
}

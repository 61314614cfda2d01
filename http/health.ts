// GET /health and the relay's identity document.
import type { FastifyInstance } from 'fastify';

export const RELAY_VERSION = '0.1.0';

export default async function healthRoutes(app: FastifyInstance) {
  const started = Date.now();
  const { core } = app.services;

  // 503 while the journal takes no writes: a commit failed (the process exits to restart from
  // the journal) or the relay is draining. Answered while draining too (`whileDraining`, see app.ts's onRequest).
  app.get('/health', { config: { whileDraining: true } }, async (_req, reply) => {
    const fault = core.journalFault;
    const draining = !fault && app.services.draining();
    const reason = fault ?? (draining ? 'the relay is shutting down: the journal is being flushed and closed' : undefined);
    if (reason) reply.code(503);
    return {
      success: !reason,
      status: fault ? 'failing' : draining ? 'draining' : 'ok',
      version: RELAY_VERSION,
      uptime_s: Math.round((Date.now() - started) / 1000),
      journal: { ok: !reason, ...(reason ? { reason } : {}), actors_loaded: core.registry.size },
      parked_polls: core.waiters.parkedCount,
      websockets: app.services.live.websockets(),
      capabilities: app.services.media.capabilities(),
      engine_jobs: app.services.media.audio.jobs.load,
    };
  });

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

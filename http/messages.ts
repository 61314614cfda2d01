// Messages and the inbox: send, streamed replies, poll, ack, read, receipt-status, edit,
// delete, conversations, history, search, conversation delete/archive, block/unblock, report.
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { LONGPOLL_MAX_MS_LIMIT } from '../daemon/config.ts';
import { CONSUMER_PATTERN, MAX_POLL_LIMIT } from '../daemon/feed.ts';

const Address = Type.String({ minLength: 1, maxLength: 64 });
const MessageId = Type.String({ minLength: 1, maxLength: 64 });
const MessageIds = Type.Array(MessageId, { minItems: 1, maxItems: 500 });
const PhoneId = Type.Optional(Type.String({ maxLength: 128 }));
export const Consumer = Type.String({ pattern: CONSUMER_PATTERN });
const Hops = Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 }));

export const SendBody = Type.Object({
  channel: Type.String({ minLength: 1, maxLength: 16 }),
  to: Type.String({ minLength: 1, maxLength: 320 }),
  // Length is checked against the configured limit with its own error code.
  text: Type.Optional(Type.String()),
  source: Type.Optional(Address),
  phone_id: PhoneId,
  idempotency_key: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  reply_to: Type.Optional(MessageId),
  attachments: Type.Optional(
    Type.Array(
      Type.Object({
        file_id: Type.String({ minLength: 1, maxLength: 128 }),
        kind: Type.Union([Type.Literal('image'), Type.Literal('video'), Type.Literal('audio'), Type.Literal('voice'), Type.Literal('file')]),
        caption: Type.Optional(Type.String({ maxLength: 1000 })),
      }),
      { maxItems: 20 },
    ),
  ),
  /** A hop count carried over from elsewhere (loop guard). */
  hops: Hops,
});

export const PollBody = Type.Object({
  chat_address: Type.Optional(Address),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_POLL_LIMIT })),
  after: Type.Optional(Type.Integer({ minimum: 0 })),
  /** Cut to PCHAT_LONGPOLL_MAX_MS (Feed.poll): a fixed 30 s here made the setting's higher values refuse, not wait. */
  wait_ms: Type.Optional(Type.Integer({ minimum: 0, maximum: LONGPOLL_MAX_MS_LIMIT })),
  consumer: Type.Optional(Consumer),
  peek: Type.Optional(Type.Boolean()),
  phone_id: PhoneId,
});

const ConsumerParams = Type.Object({ consumer: Consumer });
export const AckBody = Type.Object({ consumer: Type.Optional(Consumer), upto: Type.Integer({ minimum: 0 }) });
export const StreamOpenBody = Type.Object({
  to: Type.String({ minLength: 1, maxLength: 320 }),
  text: Type.Optional(Type.String()),
  reply_to: Type.Optional(MessageId),
  idempotency_key: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
});
export const StreamAppendBody = Type.Object({ message_id: MessageId, delta: Type.String({ minLength: 1 }) });
export const StreamCloseBody = Type.Object({ message_id: MessageId, text: Type.Optional(Type.String()) });

export const ReadBody = Type.Object({
  chat_address: Type.Optional(Address),
  message_id: Type.Optional(MessageId),
  message_ids: Type.Optional(MessageIds),
  phone_id: PhoneId,
});

export const ReceiptStatusBody = Type.Object({ message_ids: MessageIds, phone_id: PhoneId });
export const EditBody = Type.Object({ message_id: MessageId, text: Type.String() });
export const DeleteBody = Type.Object({ message_id: MessageId });
export const PeerBody = Type.Object({ peer: Address });
export const ArchiveBody = Type.Object({ peer: Address, archived: Type.Optional(Type.Boolean()) });
export const AddressBody = Type.Object({ address: Address });
export const ReportBody = Type.Object({
  message_id: Type.Optional(MessageId),
  address: Type.Optional(Address),
  reason: Type.String({ minLength: 1, maxLength: 1000 }),
});
export const ConversationsQuery = Type.Object({ archived: Type.Optional(Type.Boolean()) });
export const HistoryQuery = Type.Object({
  peer: Address,
  before: Type.Optional(Type.Integer({ minimum: 1 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })),
});

/** Search words: a sentence or two, not a document. */
export const SearchQuery = Type.Object({
  q: Type.String({ minLength: 1, maxLength: 200 }),
  peer: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  before: Type.Optional(Type.Integer({ minimum: 1 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
});

export default async function messageRoutes(app: FastifyInstance) {
  const { messaging, feed, core } = app.services;
  const auth = { preHandler: app.requireAuth };
  const w = '/api/v1/webchat';

  app.post<{ Body: Static<typeof SendBody> }>('/api/v1/messages', { ...auth, schema: { body: SendBody } }, async (req) => ({
    success: true,
    ...(await messaging.send(req.auth, req.body)),
  }));

  app.post<{ Body: Static<typeof PollBody> }>(`${w}/poll`, { ...auth, schema: { body: PollBody } }, async (req, reply) => {
    const abort = new AbortController();
    // 'close' also fires after a normal answer; only a client that left mid-poll aborts it.
    reply.raw.on('close', () => reply.raw.writableFinished || abort.abort());
    return { success: true, ...(await feed.poll(req.auth, req.body, abort.signal)) };
  });

  app.post<{ Body: Static<typeof AckBody> }>(`${w}/ack`, { ...auth, schema: { body: AckBody } }, async (req) => ({
    success: true,
    ...(await feed.ack(req.auth, req.body.consumer, req.body.upto)),
  }));

  // Named consumers: which there are, and removing one (an inbox keeps a bounded number).
  app.get(`${w}/consumers`, auth, async (req) => ({ success: true, consumers: feed.namedConsumers(req.auth) }));

  app.delete<{ Params: { consumer: string } }>(`${w}/consumers/:consumer`, { ...auth, schema: { params: ConsumerParams } }, async (req) => ({
    success: true,
    ...(await feed.removeConsumer(req.auth, req.params.consumer)),
  }));

  app.post<{ Body: Static<typeof StreamOpenBody> }>(`${w}/stream/open`, { ...auth, schema: { body: StreamOpenBody } }, async (req) => ({
    success: true,
    ...(await messaging.streamOpen(req.auth, req.body)),
  }));

  app.post<{ Body: Static<typeof StreamAppendBody> }>(`${w}/stream/append`, { ...auth, schema: { body: StreamAppendBody } }, async (req) => ({
    success: true,
    ...(await messaging.streamAppend(req.auth, req.body.message_id, req.body.delta)),
  }));

  app.post<{ Body: Static<typeof StreamCloseBody> }>(`${w}/stream/close`, { ...auth, schema: { body: StreamCloseBody } }, async (req) => ({
    success: true,
    ...(await messaging.streamClose(req.auth, req.body.message_id, req.body.text)),
  }));

  app.post<{ Body: Static<typeof ReadBody> }>(`${w}/read`, { ...auth, schema: { body: ReadBody } }, async (req) => ({
    success: true,
    ...(await messaging.markRead(req.auth, req.body)),
  }));

  app.post<{ Body: Static<typeof ReceiptStatusBody> }>(`${w}/receipt-status`, { ...auth, schema: { body: ReceiptStatusBody } }, async (req) => {
    const answer = { success: true, ...messaging.receiptStatus(req.auth, req.body.message_ids) };
    await core.settled(); // a read, though a POST: shown once what it saw is durable (see http/app.ts)
    return answer;
  });

  app.post<{ Body: Static<typeof EditBody> }>(`${w}/edit`, { ...auth, schema: { body: EditBody } }, async (req) => ({
    success: true,
    ...(await messaging.edit(req.auth, req.body.message_id, req.body.text)),
  }));

  app.post<{ Body: Static<typeof DeleteBody> }>(`${w}/delete`, { ...auth, schema: { body: DeleteBody } }, async (req) => ({
    success: true,
    ...(await messaging.remove(req.auth, req.body.message_id)),
  }));

  app.get<{ Querystring: Static<typeof ConversationsQuery> }>(`${w}/conversations`, { ...auth, schema: { querystring: ConversationsQuery } }, async (req) => ({
    success: true,
    conversations: messaging.conversations(req.auth, req.query.archived),
  }));

  app.get<{ Querystring: Static<typeof HistoryQuery> }>(`${w}/history`, { ...auth, schema: { querystring: HistoryQuery } }, async (req) => ({
    success: true,
    ...messaging.history(req.auth, req.query.peer, req.query.before, req.query.limit ?? 50),
  }));

  app.get<{ Querystring: Static<typeof SearchQuery> }>(`${w}/search`, { ...auth, schema: { querystring: SearchQuery } }, async (req) => ({
    success: true,
    ...(await feed.search(req.auth, req.query.q, { peer: req.query.peer, before: req.query.before, limit: req.query.limit ?? 20 })),
  }));

  app.post<{ Body: Static<typeof PeerBody> }>(`${w}/conversation/delete`, { ...auth, schema: { body: PeerBody } }, async (req) => ({
    success: true,
    ...(await messaging.deleteConversation(req.auth, req.body.peer)),
  }));

  app.post<{ Body: Static<typeof ArchiveBody> }>(`${w}/conversation/archive`, { ...auth, schema: { body: ArchiveBody } }, async (req) => ({
    success: true,
    ...(await messaging.archive(req.auth, req.body.peer, req.body.archived ?? true)),
  }));

  app.post<{ Body: Static<typeof AddressBody> }>(`${w}/block`, { ...auth, schema: { body: AddressBody } }, async (req) => ({
    success: true,
    ...(await messaging.block(req.auth, req.body.address, true)),
  }));

  app.post<{ Body: Static<typeof AddressBody> }>(`${w}/unblock`, { ...auth, schema: { body: AddressBody } }, async (req) => ({
    success: true,
    ...(await messaging.block(req.auth, req.body.address, false)),
  }));

  app.get(`${w}/blocked`, auth, async (req) => ({ success: true, blocked: messaging.blockedList(req.auth) }));

  app.post<{ Body: Static<typeof ReportBody> }>(`${w}/report`, { ...auth, schema: { body: ReportBody } }, async (req) => ({
    success: true,
    ...(await messaging.report(req.auth, req.body)),
  }));
}

// The one table of error codes: code → HTTP status and default sentence. Routes and services
// throw a Refusal with a code; the error handler turns it into
// `{success:false, error:<code>, message:<sentence>}`. Tests assert on the code.

export const ERRORS = {
  bad_request: [400, 'The request is not valid.'],
  request_timeout: [408, 'The request took too long to arrive.'],
  headers_too_large: [431, 'The request headers are too large.'],
  validation_failed: [400, 'The request body or query has a wrong field.'],
  invalid_json: [400, 'The body is not valid JSON.'],
  invalid_address: [400, 'That chat address is not valid.'],
  invalid_code: [400, 'The code is wrong or has expired; request a new one.'],
  text_too_long: [413, 'The text is longer than this relay allows.'],
  channel_unavailable: [400, 'That channel is not configured on this relay.'],
  unauthorized: [401, 'Sign in first: send X-PChat-Session with a valid session token.'],
  not_your_address: [403, 'That chat address is not yours.'],
  not_sender: [403, 'Only the sender can do that.'],
  blocked: [403, 'The recipient does not accept messages from you.'],
  suspended: [403, 'Your account is suspended from sending.'],
  forbidden: [403, 'You are not allowed to do that.'],
  not_a_member: [403, 'You are not a member of that group.'],
  not_group_admin: [403, 'Only the group admins may do that.'],
  stream_read_only: [403, 'This is a stream group: only its owner and admins write.'],
  not_found: [404, 'Not found.'],
  route_not_found: [404, 'No such route on this relay.'],
  unknown_recipient: [404, 'No such chat address on this relay.'],
  unknown_message: [404, 'No such message in your conversations.'],
  unknown_conversation: [404, 'No such conversation.'],
  unknown_group: [404, 'No such group on this relay.'],
  unknown_request: [404, 'No such pending join request.'],
  unknown_file: [404, 'No such file on this relay.'],
  unknown_callback: [404, 'No such callback of yours.'],
  unknown_consumer: [404, 'No such named consumer on your inbox.'],
  callback_target_refused: [400, 'This relay does not call that address (private, loopback or unresolvable).'],
  too_many_callbacks: [409, 'You have as many callbacks as this relay allows; delete one first.'],
  file_gone: [410, 'That file was removed (never sent, or every message carrying it was deleted); upload it again.'],
  not_audio: [415, 'That file is not an audio clip.'],
  unsupported_language: [400, 'That language is not supported here; see GET /api/v1/webchat/languages.'],
  unsupported_language_pair: [400, 'No translation between those languages here; see GET /api/v1/webchat/languages.'],
  range_not_satisfiable: [416, 'The requested range is outside the file.'],
  address_taken: [409, 'That chat address is taken.'],
  conflict: [409, 'That conflicts with the current state.'],
  message_deleted: [409, 'The message was deleted.'],
  stream_closed: [409, 'That message is not an open stream.'],
  body_too_large: [413, 'The body is larger than this relay allows.'],
  payload_too_large: [413, 'The file is larger than this relay accepts.'],
  too_many_files: [413, 'Too many files in one upload.'],
  clip_too_long: [413, 'The clip is longer than this relay transcribes.'],
  unsupported_media_type: [415, 'Send JSON (Content-Type: application/json).'],
  idempotency_key_reused: [422, 'This idempotency_key was used for a different request.'],
  rate_limited: [429, 'Too many requests; slow down.'],
  too_many_connections: [429, 'This account holds as many live connections as the relay allows; close one first.'],
  loop_guard: [429, 'These two senders look like a loop of bots answering each other; the relay paused them.'],
  upload_quota_exceeded: [429, 'You have uploaded all you may today; try again tomorrow (UTC).'],
  too_many_codes: [429, 'Too many codes requested for this email; try again later.'],
  too_many_attempts: [429, 'Too many wrong codes; try again later.'],
  draining: [503, 'The relay is shutting down; retry shortly.'],
  engines_busy: [503, 'The media engines are busy; retry after the Retry-After seconds.'],
  engine_unavailable: [503, 'That capability is off on this relay; the message says what to install.'],
  engine_failed: [502, 'The engine failed on this input; it was logged.'],
  internal_error: [500, 'Something went wrong on the relay; it was logged.'],
} as const satisfies Record<string, readonly [number, string]>;

export type ErrorCode = keyof typeof ERRORS;

export function errorBody(code: string, message?: string) {
  const known = (ERRORS as Record<string, readonly [number, string]>)[code];
  return {
    status: known ? known[0] : 500,
    body: { success: false as const, error: known ? code : 'internal_error', message: message ?? (known ? known[1] : ERRORS.internal_error[1]) },
  };
}

// Groups: create, list, view, update, members, join requests, join, leave. The seed's paths
// (`/groups/<id>/members`, `/groups/<id>/join-requests[/<request_id>]`) are the contract.
import type { FastifyInstance } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { nameSchema } from './auth.ts';

const Name = nameSchema(1);
const Visibility = Type.Union([Type.Literal('public'), Type.Literal('private')]);
const Mode = Type.Union([Type.Literal('chat'), Type.Literal('stream')]);
const JoinPolicy = Type.Union([Type.Literal('open'), Type.Literal('approval')]);
const Role = Type.Union([Type.Literal('owner'), Type.Literal('admin'), Type.Literal('member')]);
const Address = Type.String({ minLength: 1, maxLength: 64 });

export const CreateGroupBody = Type.Object({
  name: Name,
  visibility: Type.Optional(Visibility),
  mode: Type.Optional(Mode),
  join_policy: Type.Optional(JoinPolicy),
  members: Type.Optional(Type.Array(Address, { maxItems: 1000 })),
});
export const UpdateGroupBody = Type.Object(
  {
    name: Type.Optional(Name),
    visibility: Type.Optional(Visibility),
    mode: Type.Optional(Mode),
    join_policy: Type.Optional(JoinPolicy),
  },
  { additionalProperties: false }, // a setting that does not exist is refused, not ignored
);
export const GroupParams = Type.Object({ id: Type.String({ pattern: '^grp_[0-9a-f]{16}$' }) });
export const MemberParams = Type.Object({ id: GroupParams.properties.id, address: Address });
export const RequestParams = Type.Object({ id: GroupParams.properties.id, request_id: Type.String({ pattern: '^req_[0-9a-f]{16}$' }) });
export const AddMemberBody = Type.Object({ member_address: Address, role: Type.Optional(Role) });
export const JoinBody = Type.Object({ note: Type.Optional(Type.String({ maxLength: 500 })) });
export const DecideBody = Type.Object({ action: Type.Union([Type.Literal('approve'), Type.Literal('reject')]) });
export const ListQuery = Type.Object({ q: Type.Optional(Type.String({ maxLength: 80 })) });

type Id = { Params: Static<typeof GroupParams> };

export default async function groupRoutes(app: FastifyInstance) {
  const { groups } = app.services;
  const auth = { preHandler: app.requireAuth };
  const g = '/api/v1/webchat/groups';

  app.get<{ Querystring: Static<typeof ListQuery> }>(g, { ...auth, schema: { querystring: ListQuery } }, async (req) => ({
    success: true,
    ...groups.list(req.auth, req.query.q),
  }));

  app.post<{ Body: Static<typeof CreateGroupBody> }>(g, { ...auth, schema: { body: CreateGroupBody } }, async (req) => ({
    success: true,
    group: await groups.create(req.auth, req.body),
  }));

  app.get<Id>(`${g}/:id`, { ...auth, schema: { params: GroupParams } }, async (req) => ({
    success: true,
    group: groups.get(req.auth, req.params.id),
  }));

  app.put<Id & { Body: Static<typeof UpdateGroupBody> }>(`${g}/:id`, { ...auth, schema: { params: GroupParams, body: UpdateGroupBody } }, async (req) => ({
    success: true,
    group: await groups.update(req.auth, req.params.id, req.body),
  }));

  app.get<Id>(`${g}/:id/members`, { ...auth, schema: { params: GroupParams } }, async (req) => ({
    success: true,
    ...groups.members(req.auth, req.params.id),
  }));

  app.post<Id & { Body: Static<typeof AddMemberBody> }>(`${g}/:id/members`, { ...auth, schema: { params: GroupParams, body: AddMemberBody } }, async (req) => ({
    success: true,
    ...(await groups.addMember(req.auth, req.params.id, req.body.member_address, req.body.role)),
  }));

  app.delete<{ Params: Static<typeof MemberParams> }>(`${g}/:id/members/:address`, { ...auth, schema: { params: MemberParams } }, async (req) => ({
    success: true,
    ...(await groups.removeMember(req.auth, req.params.id, req.params.address)),
  }));

  app.post<Id>(`${g}/:id/leave`, { ...auth, schema: { params: GroupParams } }, async (req) => ({
    success: true,
    ...(await groups.leave(req.auth, req.params.id)),
  }));

  app.get<Id>(`${g}/:id/join-requests`, { ...auth, schema: { params: GroupParams } }, async (req) => ({
    success: true,
    ...groups.requests(req.auth, req.params.id),
  }));

  // Creating a join request; in an open group this joins at once.
  app.post<Id & { Body: Static<typeof JoinBody> }>(`${g}/:id/join-requests`, { ...auth, schema: { params: GroupParams, body: JoinBody } }, async (req) => ({
    success: true,
    ...(await groups.join(req.auth, req.params.id, req.body.note)),
  }));

  app.post<{ Params: Static<typeof RequestParams>; Body: Static<typeof DecideBody> }>(
    `${g}/:id/join-requests/:request_id`,
    { ...auth, schema: { params: RequestParams, body: DecideBody } },
    async (req) => ({ success: true, ...(await groups.decide(req.auth, req.params.id, req.params.request_id, req.body.action)) }),
  );
}

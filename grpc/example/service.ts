import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { GRANT_METADATA_KEY, SUBJECT_METADATA_KEY } from '../interceptor';

/** The example's .proto files (one package each: `acme.user.v1` and `acme.admin.v1`). */
export const PROTO_FILES = [join(__dirname, 'acme.proto'), join(__dirname, 'admin.proto')];

/** Loads the example services with @grpc/proto-loader. */
export function loadExample(): protoLoader.PackageDefinition {
  return protoLoader.loadSync(PROTO_FILES, { keepCase: false, longs: String, enums: String, defaults: true });
}

interface User {
  id: string;
  email: string;
  name: string;
}

/** The fully qualified method paths the example serves. */
export const EXAMPLE_METHODS = [
  '/acme.user.v1.UserService/GetUser',
  '/acme.user.v1.UserService/ListUsers',
  '/acme.admin.v1.AdminService/DeleteUser',
  '/acme.admin.v1.AdminService/ResetPassword',
] as const;

/** Who the interceptor admitted, as it told the handler through metadata. */
export function caller(md: grpc.Metadata): { sub: string; grantId: string } {
  return { sub: String(md.get(SUBJECT_METADATA_KEY)[0] ?? ''), grantId: String(md.get(GRANT_METADATA_KEY)[0] ?? '') };
}

/**
 * A gRPC server with the example services and the given interceptors. The handlers are trivial on purpose: the
 * point is what reaches them. `onHandled` sees every call that got past the interceptors.
 */
export function exampleServer(opts: {
  interceptors: grpc.ServerInterceptor[];
  onHandled?: (method: string, who: { sub: string; grantId: string }) => void;
}): grpc.Server {
  const def = loadExample();
  const users = new Map<string, User>([
    ['u-1', { id: 'u-1', email: 'ada@acme.example', name: 'Ada' }],
    ['u-2', { id: 'u-2', email: 'grace@acme.example', name: 'Grace' }],
  ]);
  const seen = (method: string, md: grpc.Metadata) => opts.onHandled?.(method, caller(md));
  const server = new grpc.Server({ interceptors: opts.interceptors });

  server.addService(def['acme.user.v1.UserService'] as grpc.ServiceDefinition, {
    GetUser: (call: grpc.ServerUnaryCall<{ id: string }, User>, cb: grpc.sendUnaryData<User>) => {
      seen('/acme.user.v1.UserService/GetUser', call.metadata);
      const u = users.get(call.request.id);
      if (!u) return cb({ code: grpc.status.NOT_FOUND, details: `no user ${call.request.id}` });
      cb(null, u);
    },
    ListUsers: (call: grpc.ServerUnaryCall<unknown, { users: User[] }>, cb: grpc.sendUnaryData<{ users: User[] }>) => {
      seen('/acme.user.v1.UserService/ListUsers', call.metadata);
      cb(null, { users: [...users.values()] });
    },
  });
  server.addService(def['acme.admin.v1.AdminService'] as grpc.ServiceDefinition, {
    DeleteUser: (
      call: grpc.ServerUnaryCall<{ id: string }, { deleted: boolean }>,
      cb: grpc.sendUnaryData<{ deleted: boolean }>,
    ) => {
      seen('/acme.admin.v1.AdminService/DeleteUser', call.metadata);
      cb(null, { deleted: users.delete(call.request.id) });
    },
    ResetPassword: (
      call: grpc.ServerUnaryCall<{ id: string }, { resetLink: string }>,
      cb: grpc.sendUnaryData<{ resetLink: string }>,
    ) => {
      seen('/acme.admin.v1.AdminService/ResetPassword', call.metadata);
      cb(null, { resetLink: `https://acme.example/reset/${encodeURIComponent(call.request.id)}` });
    },
  });
  return server;
}

/** Binds `server` to host:port (port 0 picks a free one) and resolves with the bound port. */
export function listen(server: grpc.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(err) : resolve(bound),
    );
  });
}

/** Shuts the server down, waiting for calls in flight. */
export function shutdown(server: grpc.Server): Promise<void> {
  return new Promise((resolve) => server.tryShutdown(() => resolve()));
}

/** Calls one example method by its full path, with a request object, and resolves with the response object. */
export function callMethod(
  address: string,
  path: string,
  request: object,
  options: { credentials?: grpc.CallCredentials; metadata?: grpc.Metadata; deadlineMs?: number } = {},
): Promise<unknown> {
  const def = loadExample();
  const method = findMethod(def, path);
  if (!method) throw new Error(`${path} is not a method of the example services (${EXAMPLE_METHODS.join(', ')})`);
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  return new Promise<unknown>((resolve, reject) => {
    client.makeUnaryRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      request,
      options.metadata ?? new grpc.Metadata(),
      {
        ...(options.credentials ? { credentials: options.credentials } : {}),
        deadline: Date.now() + (options.deadlineMs ?? 10_000),
      },
      (err, value) => (err ? reject(err) : resolve(value)),
    );
  }).finally(() => client.close());
}

function findMethod(
  def: protoLoader.PackageDefinition,
  path: string,
): protoLoader.MethodDefinition<object, object> | undefined {
  for (const service of Object.values(def)) {
    // Message and enum definitions carry `format`; services are maps of method definitions.
    if ('format' in service) continue;
    for (const m of Object.values(service as protoLoader.ServiceDefinition)) if (m.path === path) return m;
  }
  return undefined;
}

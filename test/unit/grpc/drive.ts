import * as grpc from '@grpc/grpc-js';

/** The status a server interceptor ends a call with (grpc-js does not export its own name for it). */
export type EndStatus = Parameters<grpc.ServerInterceptingCallInterface['sendStatus']>[0];

/** What happened to a call that went through a server interceptor. */
export interface Driven {
  /** True when the interceptor passed the metadata on, i.e. the handler would have started. */
  passed: boolean;
  status?: EndStatus;
  metadata?: grpc.Metadata;
}

/**
 * Runs one call through a server interceptor without a network: the fake transport below delivers the request
 * metadata, and records whether the interceptor passed it on to the handler's listener or ended the call.
 */
export function drive(interceptor: grpc.ServerInterceptor, path: string, metadata: grpc.Metadata): Promise<Driven> {
  return new Promise((resolve) => {
    const transport = {
      start(listener: grpc.ServerListener & { onReceiveMetadata(md: grpc.Metadata): void }) {
        listener.onReceiveMetadata(metadata);
      },
      sendStatus: (status: EndStatus) => resolve({ passed: false, status }),
      sendMetadata: () => {},
      sendMessage: () => {},
      startRead: () => {},
      getPeer: () => 'ipv4:127.0.0.1:1',
      getDeadline: () => Number.POSITIVE_INFINITY,
      getHost: () => 'localhost',
      getAuthContext: () => ({}),
      getConnectionInfo: () => ({}),
      getMetricsRecorder: () => undefined,
    } as unknown as grpc.ServerInterceptingCallInterface;
    const definition = { path } as unknown as Parameters<grpc.ServerInterceptor>[0];
    const call = interceptor(definition, transport);
    call.start({
      onReceiveMetadata: (md: grpc.Metadata) => resolve({ passed: true, metadata: md }),
      onReceiveMessage: () => {},
      onReceiveHalfClose: () => {},
      onCancel: () => {},
    });
  });
}

/** Metadata with the given authorization values. */
export function withAuthorization(...values: string[]): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const v of values) md.add('authorization', v);
  return md;
}

import { toBinary, type DescEnum, type DescExtension, type DescFile, type DescMessage } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, type ConnectRouter, type ServiceImpl } from "@connectrpc/connect";
import {
  ServerReflection as ServerReflectionV1,
  file_grpc_reflection_v1_reflection,
} from "../../gen/grpc/reflection/v1/reflection_pb.js";
import {
  ServerReflection as ServerReflectionV1Alpha,
  file_grpc_reflection_v1alpha_reflection,
} from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";

/**
 * gRPC server reflection (`grpc.reflection.v1` and the older
 * `grpc.reflection.v1alpha`, which many tools still use) as Connect service
 * implementations, so that grpcurl, `buf curl`, Postman or grpcui list and
 * call the services without the proto files. Over gRPC it needs HTTP/2
 * (bidi streaming), which the one-port server's h2c side provides.
 *
 * The answers come from the protobuf-es descriptors the services are
 * generated with: `FileDescriptorProto`s serialized with
 * `toBinary(FileDescriptorProtoSchema, file.proto)`, with their transitive
 * dependencies (a dependency already sent on the same stream is not sent
 * again, as the protocol allows).
 */

/** What one reflection stream answers from: files by name and symbols. */
export interface ReflectionIndex {
  /** Full names of the services to list. */
  serviceNames(): string[];
  fileByName(name: string): DescFile | undefined;
  fileOfSymbol(symbol: string): DescFile | undefined;
  fileOfExtension(extendee: string, number: number): DescFile | undefined;
  extensionNumbers(extendee: string): number[] | undefined;
}

/** Builds the lookup tables of a set of files and their dependencies. */
export function createReflectionIndex(files: DescFile[], serviceNames: () => string[]): ReflectionIndex {
  const byName = new Map<string, DescFile>();
  const bySymbol = new Map<string, DescFile>();
  const extensions = new Map<string, DescExtension[]>();
  const messageTypes = new Set<string>();

  const addEnum = (e: DescEnum, scope: string) => {
    bySymbol.set(e.typeName, e.file);
    // Enum values are scoped like siblings of their enum (C++ scoping rules).
    for (const v of e.values) bySymbol.set(scope ? `${scope}.${v.name}` : v.name, e.file);
  };
  const addExtension = (x: DescExtension) => {
    bySymbol.set(x.typeName, x.file);
    const list = extensions.get(x.extendee.typeName) ?? [];
    list.push(x);
    extensions.set(x.extendee.typeName, list);
  };
  const addMessage = (m: DescMessage) => {
    bySymbol.set(m.typeName, m.file);
    messageTypes.add(m.typeName);
    for (const f of m.fields) bySymbol.set(`${m.typeName}.${f.name}`, m.file);
    for (const o of m.oneofs) bySymbol.set(`${m.typeName}.${o.name}`, m.file);
    m.nestedMessages.forEach(addMessage);
    m.nestedEnums.forEach((e) => addEnum(e, m.typeName));
    m.nestedExtensions.forEach(addExtension);
  };
  const addFile = (file: DescFile) => {
    if (byName.has(file.proto.name)) return;
    byName.set(file.proto.name, file);
    file.dependencies.forEach(addFile);
    const pkg = file.proto.package;
    file.messages.forEach(addMessage);
    file.enums.forEach((e) => addEnum(e, pkg));
    file.extensions.forEach(addExtension);
    for (const s of file.services) {
      bySymbol.set(s.typeName, file);
      for (const m of s.methods) bySymbol.set(`${s.typeName}.${m.name}`, file);
    }
  };
  files.forEach(addFile);

  return {
    serviceNames,
    fileByName: (name) => byName.get(name),
    fileOfSymbol: (symbol) => bySymbol.get(symbol.startsWith(".") ? symbol.slice(1) : symbol),
    fileOfExtension: (extendee, number) => extensions.get(extendee)?.find((x) => x.number === number)?.file,
    extensionNumbers: (extendee) =>
      messageTypes.has(extendee) ? (extensions.get(extendee) ?? []).map((x) => x.number) : undefined,
  };
}

const serialized = new WeakMap<DescFile, Uint8Array>();
function bytesOf(file: DescFile): Uint8Array {
  let b = serialized.get(file);
  if (!b) {
    b = toBinary(FileDescriptorProtoSchema, file.proto);
    serialized.set(file, b);
  }
  return b;
}

/**
 * The file first (always), then its transitive dependencies not yet sent on
 * this stream, as grpc-go's reflection server does.
 */
function withDependencies(file: DescFile, sent: Set<string>): Uint8Array[] {
  const out: Uint8Array[] = [];
  const queue: DescFile[] = [file];
  const visited = new Set<string>();
  while (queue.length) {
    const f = queue.shift()!;
    if (visited.has(f.proto.name)) continue;
    visited.add(f.proto.name);
    if (out.length === 0 || !sent.has(f.proto.name)) {
      sent.add(f.proto.name);
      out.push(bytesOf(f));
    }
    queue.push(...f.dependencies);
  }
  return out;
}

/** The request oneof, identical in v1 and v1alpha. */
type MessageRequest =
  | { case: "fileByFilename"; value: string }
  | { case: "fileContainingSymbol"; value: string }
  | { case: "fileContainingExtension"; value: { containingType: string; extensionNumber: number } }
  | { case: "allExtensionNumbersOfType"; value: string }
  | { case: "listServices"; value: string }
  | { case: undefined; value?: undefined };

/** The response oneof, as an init shape both versions accept. */
type MessageResponse =
  | { case: "fileDescriptorResponse"; value: { fileDescriptorProto: Uint8Array[] } }
  | { case: "allExtensionNumbersResponse"; value: { baseTypeName: string; extensionNumber: number[] } }
  | { case: "listServicesResponse"; value: { service: { name: string }[] } }
  | { case: "errorResponse"; value: { errorCode: number; errorMessage: string } };

const notFound = (what: string): MessageResponse => ({
  case: "errorResponse",
  value: { errorCode: Code.NotFound, errorMessage: `${what} not found` },
});

/** Answers one request of a stream; `sent` is the stream's already-sent files. */
export function answerReflectionRequest(index: ReflectionIndex, req: MessageRequest, sent: Set<string>): MessageResponse {
  const files = (file: DescFile | undefined, what: string): MessageResponse =>
    file ? { case: "fileDescriptorResponse", value: { fileDescriptorProto: withDependencies(file, sent) } } : notFound(what);
  switch (req.case) {
    case "listServices":
      return { case: "listServicesResponse", value: { service: index.serviceNames().map((name) => ({ name })) } };
    case "fileByFilename":
      return files(index.fileByName(req.value), `file "${req.value.slice(0, 200)}"`);
    case "fileContainingSymbol":
      return files(index.fileOfSymbol(req.value), `symbol "${req.value.slice(0, 200)}"`);
    case "fileContainingExtension": {
      const { containingType, extensionNumber } = req.value;
      return files(
        index.fileOfExtension(containingType, extensionNumber),
        `extension ${extensionNumber} of "${containingType.slice(0, 200)}"`,
      );
    }
    case "allExtensionNumbersOfType": {
      const numbers = index.extensionNumbers(req.value);
      if (!numbers) return notFound(`type "${req.value.slice(0, 200)}"`);
      return { case: "allExtensionNumbersResponse", value: { baseTypeName: req.value, extensionNumber: numbers } };
    }
    default:
      return {
        case: "errorResponse",
        value: { errorCode: Code.InvalidArgument, errorMessage: "no message_request set" },
      };
  }
}

type ReflectionRequest = { host: string; messageRequest: MessageRequest };

async function* serve(index: ReflectionIndex, requests: AsyncIterable<ReflectionRequest>) {
  const sent = new Set<string>();
  for await (const req of requests) {
    yield {
      validHost: req.host,
      originalRequest: req,
      messageResponse: answerReflectionRequest(index, req.messageRequest, sent),
    };
  }
}

/** The grpc.reflection.v1.ServerReflection implementation. */
export function createReflectionServiceV1(index: ReflectionIndex): ServiceImpl<typeof ServerReflectionV1> {
  return {
    serverReflectionInfo: (requests) => serve(index, requests as AsyncIterable<ReflectionRequest>) as never,
  };
}

/** The grpc.reflection.v1alpha.ServerReflection implementation. */
export function createReflectionServiceV1Alpha(index: ReflectionIndex): ServiceImpl<typeof ServerReflectionV1Alpha> {
  return {
    serverReflectionInfo: (requests) => serve(index, requests as AsyncIterable<ReflectionRequest>) as never,
  };
}

/** The reflection services' own proto files. */
export const reflectionFiles: DescFile[] = [file_grpc_reflection_v1_reflection, file_grpc_reflection_v1alpha_reflection];

/**
 * Registers both reflection services on a router. What they describe is read
 * from the router itself when the first request arrives: every service
 * registered on it (whether before or after this call) is listed, and its
 * file, with dependencies, is served; `files` adds further files (types not
 * reachable from a service, e.g. extensions defined elsewhere).
 */
export function registerReflection(router: ConnectRouter, files: DescFile[] = []): void {
  let index: ReflectionIndex | undefined;
  const registered = () => {
    const names: string[] = [];
    for (const h of router.handlers) if (!names.includes(h.service.typeName)) names.push(h.service.typeName);
    return names;
  };
  const lazy: ReflectionIndex = {
    serviceNames: registered,
    fileByName: (n) => current().fileByName(n),
    fileOfSymbol: (s) => current().fileOfSymbol(s),
    fileOfExtension: (e, n) => current().fileOfExtension(e, n),
    extensionNumbers: (e) => current().extensionNumbers(e),
  };
  let builtFor = -1;
  function current(): ReflectionIndex {
    // Rebuilt only if handlers were added since (registration happens at start-up).
    if (!index || builtFor !== router.handlers.length) {
      const serviceFiles = router.handlers.map((h) => h.service.file);
      index = createReflectionIndex([...reflectionFiles, ...serviceFiles, ...files], registered);
      builtFor = router.handlers.length;
    }
    return index;
  }
  router.service(ServerReflectionV1, createReflectionServiceV1(lazy));
  router.service(ServerReflectionV1Alpha, createReflectionServiceV1Alpha(lazy));
}

/**
 * The control plane's HTTPS foundation: the server that masters (8629) and workers (8729) build on, its
 * typed router and per-route authorization, and the client the CLI and the daemons use.
 */
export {
  API_PREFIX,
  HTTP_METHODS,
  route,
  createRouter,
  parseQuery,
  formatPath,
  type HttpMethod,
  type RouteAccess,
  type AuthKind,
  type AuthContext,
  type PathParams,
  type Query,
  type RouteRequest,
  type RouteResponse,
  type RouteHandler,
  type RouteDefinition,
  type Route,
  type RouteMatch,
  type Router,
} from './router.ts';
export {
  HttpError,
  badRequest,
  ListenError,
  ControlHttpError,
  ControlProtocolError,
  EndpointUnreachableError,
  ServerCertificateError,
  EndpointsUnreachableError,
  type ErrorCode,
  type ErrorBody,
  type EndpointFailure,
} from './errors.ts';
export {
  parseAuthorization,
  basicAuthorization,
  classifyClientCertificate,
  AuthThrottle,
  DEFAULT_THROTTLE,
  normalizeAddress,
  staticPasswordVerifier,
  type BasicAuthVerifier,
  type ParsedAuthorization,
  type ClientCertificateFacts,
  type ClientCertificateVerdict,
  type ThrottleOptions,
} from './auth.ts';
export {
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_MAX_JSON_DEPTH,
  FORBIDDEN_KEYS,
  checkJsonContentType,
  parseJsonBody,
  jsonDepth,
  findForbiddenKey,
  readBodyBytes,
  type JsonLimits,
} from './body.ts';
export { TLS_MIN_VERSION, TLS_MAX_VERSION, TLS_CIPHERS, serverSecureContextOptions, clientTlsOptions } from './tls-policy.ts';
export { checkServerKeyfile, loadServerMaterial, certificateWarnings, type CertificateWarning, type ServerMaterial } from './material.ts';
export {
  MASTER_PORT,
  WORKER_PORT,
  compileControlServerOptions,
  type Duration,
  type ControlServerOptions,
  type CompiledControlServerOptions,
} from './options.ts';
export { ControlServer, type ControlServerState, type ControlServerAddress } from './server.ts';
export {
  ControlClient,
  tryEndpoints,
  isEndpointFailure,
  type ClientAuth,
  type ControlClientOptions,
  type RequestOptions,
  type TryEndpointsOptions,
} from './client.ts';
export { parseEndpoint } from '../config/validate.ts';

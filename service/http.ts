import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { DriverError, isDriverError, type ErrorCode } from '../driver/errors.js';
import type { Logger } from '../driver/ports/logger.js';
import type { Backend } from './backend.js';
import { hostResources } from './host-resources.js';
import type { InstanceService } from './instances.js';
import { withLogContext } from './log.js';
import { simRoutes } from './sim-routes.js';
import {
  checkUuid,
  EmptySchema,
  parseBody,
  PowerOffSchema,
  RebootSchema,
  SpawnSpecSchema,
} from './spec.js';

/** The service's version, reported by /v1/health. */
export const SERVICE_VERSION = '0.1.0';

/** Largest request body accepted; a spawn spec is a few KiB. */
export const MAX_BODY_BYTES = 1024 * 1024;

/** HTTP status by error code (service/API.md). */
export const STATUS_BY_CODE: Record<ErrorCode, number> = {
  InvalidInput: 400,
  NotFound: 404,
  AlreadyExists: 409,
  Busy: 409,
  Unsupported: 501,
  Timeout: 504,
  ResourceExhausted: 500,
  FailedPrecondition: 500,
  DeviceChanged: 500,
  NoRootFilesystem: 500,
  CommandFailed: 500,
  NotModelled: 500,
  Internal: 500,
};

/** One request, parsed: what a route handler gets. */
export interface Request {
  method: string;
  path: string;
  query: URLSearchParams;
  params: string[];
  body: () => Promise<unknown>;
}

/** A route's answer. */
export interface Answer {
  status: number;
  body: unknown;
}

/** A route: method, path pattern (groups become params) and handler. */
export interface Route {
  method: 'GET' | 'PUT' | 'POST' | 'DELETE';
  pattern: RegExp;
  handle: (request: Request) => Promise<Answer>;
}

/** An HTTP error that is not about the driver: unknown path, wrong method, bad body. */
class HttpError extends DriverError {
  constructor(
    readonly status: number,
    code: ErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(code, message);
  }
}

const ok = (body: unknown, status = 200): Answer => ({ status, body });
const UUID = '([^/]+)';

/** The /v1 routes over an instance service and its backend. */
export function apiRoutes(service: InstanceService, backend: Backend): Route[] {
  const uuidOf = (r: Request) => {
    const raw = r.params[0] ?? '';
    let text: string;
    try {
      text = decodeURIComponent(raw);
    } catch {
      text = raw; // A malformed %-escape is no uuid either; checkUuid names it.
    }
    return checkUuid(text);
  };
  const routes: Route[] = [
    {
      method: 'GET',
      pattern: /^\/v1\/health$/,
      handle: async () => ok({ status: 'ok', version: SERVICE_VERSION, backend: backend.name }),
    },
    {
      method: 'GET',
      pattern: /^\/v1\/host$/,
      handle: async () =>
        ok(hostResources(await backend.capacity(), await service.records(), backend.instancesPath)),
    },
    {
      method: 'GET',
      pattern: /^\/v1\/instances$/,
      handle: async () => ok({ instances: await service.list() }),
    },
    {
      method: 'GET',
      pattern: new RegExp(`^/v1/instances/${UUID}$`),
      handle: async (r) => ok(await service.view(uuidOf(r))),
    },
    {
      method: 'PUT',
      pattern: new RegExp(`^/v1/instances/${UUID}$`),
      handle: async (r) => {
        const uuid = uuidOf(r);
        const spec = parseBody(SpawnSpecSchema, await r.body(), 'the spawn spec');
        const { created, view } = await service.spawn(uuid, spec);
        return ok(view, created ? 201 : 200);
      },
    },
    {
      method: 'DELETE',
      pattern: new RegExp(`^/v1/instances/${UUID}$`),
      handle: async (r) => {
        const uuid = uuidOf(r);
        const flag = r.query.get('destroy_disks') ?? 'true';
        if (flag !== 'true' && flag !== 'false') {
          throw new DriverError(
            'InvalidInput',
            `Failed to read destroy_disks: expected true or false, got ${JSON.stringify(flag.slice(0, 40))}`,
            { details: { fields: ['destroy_disks'] } },
          );
        }
        return ok({ deleted: await service.destroy(uuid, flag === 'true') });
      },
    },
    {
      method: 'POST',
      pattern: new RegExp(`^/v1/instances/${UUID}/reboot$`),
      handle: async (r) => {
        const uuid = uuidOf(r);
        const body = parseBody(RebootSchema, await r.body(), 'the reboot request');
        return ok(await service.reboot(uuid, body.type));
      },
    },
    {
      method: 'POST',
      pattern: new RegExp(`^/v1/instances/${UUID}/power-off$`),
      handle: async (r) => {
        const uuid = uuidOf(r);
        const body = parseBody(PowerOffSchema, await r.body(), 'the power-off request');
        return ok(await service.powerOff(uuid, body.timeout, body.retry_interval));
      },
    },
    {
      method: 'POST',
      pattern: new RegExp(`^/v1/instances/${UUID}/power-on$`),
      handle: async (r) => {
        const uuid = uuidOf(r);
        parseBody(EmptySchema, await r.body(), 'the power-on request');
        return ok(await service.powerOn(uuid));
      },
    },
    {
      method: 'POST',
      pattern: new RegExp(`^/v1/instances/${UUID}/resume-on-host-boot$`),
      handle: async (r) => {
        const uuid = uuidOf(r);
        parseBody(EmptySchema, await r.body(), 'the resume-on-host-boot request');
        return ok(await service.resumeOnHostBoot(uuid));
      },
    },
    {
      method: 'GET',
      pattern: new RegExp(`^/v1/instances/${UUID}/console$`),
      handle: async (r) => ok({ output: await service.console(uuidOf(r)) }),
    },
  ];
  return backend.sim ? [...routes, ...simRoutes(backend.sim, backend.imageCache)] : routes;
}

/** The error body of service/API.md; never a stack trace. */
export function errorBody(error: DriverError): Record<string, unknown> {
  const novaType = error.details['novaType'];
  return {
    error: {
      code: error.code,
      message: error.message,
      hint: error.hint ?? null,
      nova_type: typeof novaType === 'string' ? novaType : null,
    },
  };
}

/** Creates the HTTP server (not yet listening). */
export function createApiServer(routes: Route[], logger: Logger): Server {
  const server = createServer((req, res) => {
    const requestId = req.headers['x-openstack-request-id'];
    const ctx =
      typeof requestId === 'string' && /^req-[0-9a-f-]{36}$/.test(requestId) ? { requestId } : {};
    void withLogContext(ctx, () => serve(routes, logger, req, res));
  });
  // A slow client must not hold a connection open forever; a spawn answer may take minutes.
  server.headersTimeout = 30_000;
  server.requestTimeout = 60_000;
  return server;
}

async function serve(
  routes: Route[],
  logger: Logger,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const started = performance.now();
  const method = req.method ?? 'GET';
  const url = new URL(req.url ?? '/', 'http://nova-lxc');
  let answer: Answer;
  let headers: Record<string, string> = {};
  try {
    const matching = routes.filter((r) => r.pattern.test(url.pathname));
    if (matching.length === 0) {
      throw new HttpError(
        404,
        'NotFound',
        `Failed to route ${method} ${url.pathname}: no such endpoint`,
      );
    }
    const route = matching.find((r) => r.method === method);
    if (!route) {
      const allow = matching.map((r) => r.method).join(', ');
      throw new HttpError(
        405,
        'Unsupported',
        `Failed to route ${method} ${url.pathname}: allowed methods are ${allow}`,
        { allow },
      );
    }
    const params = route.pattern.exec(url.pathname)!.slice(1);
    answer = await route.handle({
      method,
      path: url.pathname,
      query: url.searchParams,
      params,
      body: () => readJson(req),
    });
  } catch (error) {
    const failure = isDriverError(error)
      ? error
      : new DriverError('Internal', `Internal error: ${String(error)}`, { cause: error });
    if (!isDriverError(error)) {
      logger.error(`Unexpected error serving ${method} ${url.pathname}`, {
        error: error instanceof Error ? (error.stack ?? error.message) : String(error),
      });
    }
    headers = error instanceof HttpError ? error.headers : {};
    answer = {
      status: error instanceof HttpError ? error.status : STATUS_BY_CODE[failure.code],
      body: errorBody(failure),
    };
  }
  // Drain whatever body the handler did not read, so the connection can be reused.
  req.resume();
  const text = JSON.stringify(answer.body);
  if (answer.status === 413) headers = { ...headers, connection: 'close' };
  res.writeHead(answer.status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
  const level = answer.status >= 500 ? 'error' : answer.status >= 400 ? 'warn' : 'info';
  const ms = (performance.now() - started).toFixed(1);
  const reason =
    answer.status >= 400
      ? `: ${(answer.body as { error: { message: string } }).error.message}`
      : '';
  logger[level](`${method} ${url.pathname} ${answer.status} ${ms} ms${reason}`);
}

/** Reads a JSON body of at most MAX_BODY_BYTES; empty means `{}`. */
async function readJson(req: IncomingMessage): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > MAX_BODY_BYTES) {
    throw new HttpError(
      413,
      'InvalidInput',
      `Failed to read the request body: ${declared} bytes is more than the ${MAX_BODY_BYTES} allowed`,
    );
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) {
      throw new HttpError(
        413,
        'InvalidInput',
        `Failed to read the request body: more than the ${MAX_BODY_BYTES} bytes allowed`,
      );
    }
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json\b/i.test(type)) {
    throw new HttpError(
      415,
      'InvalidInput',
      `Failed to read the request body: content-type must be application/json, got ${JSON.stringify(type.slice(0, 60))}`,
    );
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(
      400,
      'InvalidInput',
      'Failed to read the request body: it is not valid JSON',
    );
  }
}

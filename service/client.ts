import { Agent, request } from 'node:http';
import { DriverError, type ErrorCode } from '../driver/errors.js';

/** A non-2xx answer of the service, carrying its error body. */
export class ServiceError extends DriverError {
  constructor(
    readonly status: number,
    code: ErrorCode,
    message: string,
    hint: string | undefined,
    readonly novaType: string | null,
  ) {
    super(code, message, hint === undefined ? {} : { hint });
    this.name = 'ServiceError';
  }
}

/** One answer: status and parsed JSON body. */
export interface ServiceAnswer<T = unknown> {
  status: number;
  body: T;
}

/**
 * HTTP/1.1 + JSON over the service's unix socket, with keep-alive: what the CLI, the tests and
 * the benchmark call the service with (the Nova side does the same from Python).
 */
export class ServiceClient {
  private readonly agent = new Agent({ keepAlive: true });

  constructor(readonly socketPath: string) {}

  /** Sends one request; resolves with any status (raw), see `call` for the throwing form. */
  async send<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<ServiceAnswer<T>> {
    const payload =
      body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          socketPath: this.socketPath,
          agent: this.agent,
          method,
          path,
          headers: {
            ...(payload === undefined
              ? {}
              : {
                  'content-type': 'application/json',
                  'content-length': Buffer.byteLength(payload),
                }),
            ...headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            try {
              resolve({ status: res.statusCode ?? 0, body: (text ? JSON.parse(text) : null) as T });
            } catch {
              reject(
                new DriverError(
                  'Internal',
                  `The service answered ${method} ${path} with non-JSON: ${text.slice(0, 200)}`,
                ),
              );
            }
          });
          res.on('error', reject);
        },
      );
      req.on('error', (error: NodeJS.ErrnoException) => {
        const code =
          error.code === 'ENOENT' || error.code === 'ECONNREFUSED'
            ? 'FailedPrecondition'
            : 'Internal';
        reject(
          new DriverError(
            code,
            `Failed to reach the nova-lxc service at ${this.socketPath}: ${error.message}`,
            {
              hint: 'Start it (systemctl start nova-lxc.socket), or pass --socket with its path.',
              cause: error,
            },
          ),
        );
      });
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  /** Sends one request and returns the body of a 2xx answer; throws ServiceError otherwise. */
  async call<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const answer = await this.send<T>(method, path, body);
    if (answer.status >= 200 && answer.status < 300) return answer.body;
    const error = (answer.body as { error?: Record<string, unknown> } | null)?.error ?? {};
    throw new ServiceError(
      answer.status,
      (typeof error['code'] === 'string' ? error['code'] : 'Internal') as ErrorCode,
      typeof error['message'] === 'string' ? error['message'] : `HTTP ${answer.status}`,
      typeof error['hint'] === 'string' ? error['hint'] : undefined,
      typeof error['nova_type'] === 'string' ? error['nova_type'] : null,
    );
  }

  /** Closes kept-alive connections. */
  close(): void {
    this.agent.destroy();
  }
}

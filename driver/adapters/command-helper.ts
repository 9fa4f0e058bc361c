import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import {
  commandOutcome,
  ProcessCommandRunner,
  type CommandResult,
  type CommandRunner,
  type RunOptions,
} from './command-runner.js';

/** The modules the helper imports (`nova-lxc doctor` imports the same to check python3). */
export const HELPER_IMPORTS = 'import errno, json, os, signal, subprocess, sys, threading';

/**
 * The command helper: a small long-lived python3 process that starts commands for us.
 *
 * Node forks its whole process for every command, and the cost grows with the process: measured
 * here, `/bin/true` took 1.3 ms from a fresh 57 MB node, 2.0 ms from the 92 MB bench process,
 * 2.3 ms from a 150 MB one, against 0.78 ms from bash and 0.9 ms through this helper (Python's
 * subprocess uses vfork). A service or a scenario suite runs hundreds of commands, so it hands
 * them to the helper; a one-shot CLI command does not (python3 costs ~10 ms to start here).
 *
 * Protocol: one JSON object per line each way, on the helper's own stdin and stdout (nobody else
 * can write to it). Requests: `{id, argv, input?, env?, cwd?}` (env and cwd only when they
 * changed; they stay for later requests) and `{kill: id, signal}`. Answers: `{ready}` once, then
 * `{id, code, signal, stdout, stderr}` or `{id, error, message}` when the command could not start.
 * argv is handed to exec as a list: never a shell. Kills go through a pidfd, so a late kill can
 * never hit a recycled pid.
 */
export const HELPER_SCRIPT = String.raw`
${HELPER_IMPORTS}

def main():
    lock = threading.Lock()
    running = {}
    out = sys.stdout.buffer
    state = {"env": dict(os.environ), "cwd": None}

    def send(message):
        data = (json.dumps(message) + "\n").encode("ascii")
        with lock:
            out.write(data)
            out.flush()

    def finish(rid, proc, data):
        try:
            stdout, stderr = proc.communicate(data)
        except BaseException as exc:
            stdout, stderr = b"", str(exc).encode()
            proc.kill()
            proc.wait()
        with lock:
            pidfd = running.pop(rid, (None, None))[1]
            if pidfd is not None:
                os.close(pidfd)
        code = proc.returncode
        name = None
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = "SIG%d" % -code
        send({"id": rid, "code": code if code >= 0 else None, "signal": name,
              "stdout": stdout.decode("utf-8", "replace"),
              "stderr": stderr.decode("utf-8", "replace")})

    def start(req):
        rid = req["id"]
        if "env" in req:
            state["env"] = req["env"]
        if "cwd" in req:
            state["cwd"] = req["cwd"]
        data = req.get("input")
        try:
            proc = subprocess.Popen(
                req["argv"], env=state["env"], cwd=state["cwd"],
                stdin=subprocess.DEVNULL if data is None else subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as exc:
            send({"id": rid, "error": errno.errorcode.get(exc.errno or 0, "EIO"),
                  "message": str(exc)})
            return
        except (ValueError, TypeError) as exc:
            send({"id": rid, "error": "EINVAL", "message": str(exc)})
            return
        pidfd = None
        if hasattr(os, "pidfd_open"):
            try:
                pidfd = os.pidfd_open(proc.pid)
            except OSError:
                pidfd = None
        with lock:
            running[rid] = (proc, pidfd)
        payload = None if data is None else data.encode("utf-8")
        threading.Thread(target=finish, args=(rid, proc, payload), daemon=True).start()

    def kill(rid, signum):
        with lock:
            proc, pidfd = running.get(rid, (None, None))
            if proc is None:
                return
            try:
                if pidfd is not None:
                    signal.pidfd_send_signal(pidfd, signum)
                else:
                    proc.send_signal(signum)
            except OSError:
                pass

    send({"ready": 1})
    for line in sys.stdin.buffer:
        req = json.loads(line)
        if "kill" in req:
            kill(req["kill"], int(req["signal"]))
        else:
            start(req)
    out.flush()
    os._exit(0)

try:
    main()
except KeyboardInterrupt:
    os._exit(130)
`;

/** What the helper answers for one command. */
interface HelperAnswer {
  id: number;
  code?: number | null;
  signal?: string | null;
  stdout?: string;
  stderr?: string;
  error?: string;
  message?: string;
}

interface Waiting {
  id: number;
  argv: readonly string[];
  options: RunOptions;
  resolve: (result: CommandResult) => void;
  reject: (error: unknown) => void;
  timedOut: boolean;
  killed: boolean;
  sent: boolean;
  timer?: ReturnType<typeof setTimeout>;
}

/** How the helper process is started (tests point it at a broken interpreter). */
export interface CommandHelperOptions {
  /** The interpreter; default helperPython(). */
  python?: string;
}

/**
 * The interpreter the helper runs on: Debian's /usr/bin/python3 where it exists (the one
 * python3-nova uses; it starts in ~10 ms here, where a pyenv shim first on root's PATH took
 * ~70 ms), else `python3` from PATH.
 */
export function helperPython(): string {
  return existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
}

/**
 * One helper process, started on first use and shared by every runner that names it. If the
 * helper cannot start (no python3), the commands run the direct way, as they would without it;
 * if it dies while commands run, those fail (their outcome is unknown) and the next command
 * starts a new helper.
 */
export class CommandHelper {
  private child: ChildProcess | undefined;
  private ready = false;
  private unavailable: string | undefined;
  private buffered = '';
  private stderrTail = '';
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();
  private lastEnv = '';
  private lastCwd = '';
  private readonly direct = new ProcessCommandRunner();

  private readonly python: string;

  constructor(options: CommandHelperOptions = {}) {
    this.python = options.python ?? helperPython();
  }

  /** Why the helper is not used (commands then run directly), or undefined while it is. */
  get fallbackReason(): string | undefined {
    return this.unavailable;
  }

  /** The helper's pid once it runs (for tests and diagnostics). */
  get pid(): number | undefined {
    return this.ready ? this.child?.pid : undefined;
  }

  run(argv: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    // A stdin file must be opened by us and handed over as a descriptor: the direct way does it.
    if (this.unavailable !== undefined || options.stdinFile !== undefined || argv.length === 0) {
      return this.direct.run(argv, options);
    }
    return new Promise((resolve, reject) => {
      const entry: Waiting = {
        id: this.nextId++,
        argv,
        options,
        resolve,
        reject,
        timedOut: false,
        killed: false,
        sent: false,
      };
      this.waiting.set(entry.id, entry);
      if (options.timeoutMs !== undefined) {
        entry.timer = setTimeout(() => {
          entry.timedOut = true;
          this.kill(entry, 'SIGTERM');
        }, options.timeoutMs);
      }
      if (options.signal) {
        const abort = () => this.kill(entry, 'SIGKILL');
        if (options.signal.aborted) abort();
        else options.signal.addEventListener('abort', abort, { once: true });
      }
      if (!entry.killed) this.ensureStarted();
      if (this.ready && !entry.killed) this.send(entry);
      this.updateRef();
    });
  }

  /** Ends the helper (it also ends by itself when this process exits). */
  close(): void {
    this.child?.stdin?.end();
  }

  private ensureStarted(): void {
    if (this.child) return;
    const child = spawn(this.python, ['-I', '-S', '-c', HELPER_SCRIPT, 'nova-lxc-command-helper'], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C' },
    });
    this.child = child;
    this.ready = false;
    this.buffered = '';
    this.stderrTail = '';
    child.stdin?.on('error', () => undefined);
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => this.receive(chunk));
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-2000);
    });
    child.on('error', (error) =>
      this.ended(child, `could not start ${this.python}: ${error.message}`),
    );
    child.on('close', (code, signal) =>
      this.ended(child, `exited with ${code === null ? `signal ${signal}` : `code ${code}`}`),
    );
  }

  private receive(chunk: string): void {
    this.buffered += chunk;
    let newline = this.buffered.indexOf('\n');
    while (newline >= 0) {
      const line = this.buffered.slice(0, newline);
      this.buffered = this.buffered.slice(newline + 1);
      newline = this.buffered.indexOf('\n');
      let answer: HelperAnswer & { ready?: number };
      try {
        answer = JSON.parse(line) as HelperAnswer & { ready?: number };
      } catch {
        // Not our helper talking: stop it; what it ran fails as unknown (see ended()).
        this.stderrTail += `\nunreadable answer: ${line.slice(0, 200)}`;
        this.child?.kill('SIGKILL');
        return;
      }
      if (answer.ready !== undefined) {
        this.ready = true;
        for (const entry of this.waiting.values())
          if (!entry.sent && !entry.killed) this.send(entry);
        continue;
      }
      const entry = this.waiting.get(answer.id);
      if (entry) this.settle(entry, answer);
    }
  }

  private send(entry: Waiting): void {
    const request: Record<string, unknown> = { id: entry.id, argv: entry.argv };
    if (entry.options.input !== undefined) request['input'] = entry.options.input;
    const env = { ...process.env, LC_ALL: 'C' };
    const envText = JSON.stringify(env);
    if (envText !== this.lastEnv) {
      request['env'] = env;
      this.lastEnv = envText;
    }
    const cwd = process.cwd();
    if (cwd !== this.lastCwd) {
      request['cwd'] = cwd;
      this.lastCwd = cwd;
    }
    entry.sent = true;
    this.child?.stdin?.write(`${JSON.stringify(request)}\n`);
  }

  private kill(entry: Waiting, signal: 'SIGTERM' | 'SIGKILL'): void {
    if (!this.waiting.has(entry.id)) return;
    if (!entry.sent) {
      // Never handed over: it did not run. Fail it as the direct way fails a killed command.
      entry.killed = true;
      this.settle(entry, { id: entry.id, code: null, signal, stdout: '', stderr: '' });
      return;
    }
    this.child?.stdin?.write(
      `${JSON.stringify({ kill: entry.id, signal: signal === 'SIGKILL' ? 9 : 15 })}\n`,
    );
  }

  private settle(entry: Waiting, answer: HelperAnswer): void {
    this.waiting.delete(entry.id);
    if (entry.timer) clearTimeout(entry.timer);
    const spawnError =
      answer.error === undefined
        ? undefined
        : Object.assign(new Error(answer.message ?? answer.error), { code: answer.error });
    commandOutcome(
      entry.argv,
      entry.options,
      {
        code: answer.code ?? null,
        signal: answer.signal ?? null,
        stdout: answer.stdout ?? '',
        stderr: answer.stderr ?? '',
        spawnError,
        timedOut: entry.timedOut,
      },
      entry.resolve,
      entry.reject,
    );
    this.updateRef();
  }

  private ended(child: ChildProcess, how: string): void {
    if (this.child !== child) return;
    this.child = undefined;
    const wasReady = this.ready;
    this.ready = false;
    const tail = this.stderrTail.trim().split('\n').at(-1) ?? '';
    const reason = `the command helper (python3) ${how}${tail ? `: ${tail}` : ''}`;
    if (!wasReady) {
      // It never read a request: nothing ran. From now on commands run directly.
      this.unavailable = reason;
      for (const entry of [...this.waiting.values()]) {
        this.waiting.delete(entry.id);
        if (entry.timer) clearTimeout(entry.timer);
        this.direct.run(entry.argv, entry.options).then(entry.resolve, entry.reject);
      }
      return;
    }
    for (const entry of [...this.waiting.values()]) {
      if (!entry.sent) continue; // sent to the next helper
      this.settle(entry, {
        id: entry.id,
        error: 'EHELPER',
        message: `${reason}; whether ${entry.argv[0]} ran, and how it ended, is unknown`,
      });
    }
    if ([...this.waiting.values()].some((entry) => !entry.sent)) this.ensureStarted();
  }

  /** Keeps this process alive while commands run, and lets it exit when idle. */
  private updateRef(): void {
    const child = this.child;
    if (!child) return;
    const busy = this.waiting.size > 0;
    for (const handle of [child, child.stdout, child.stderr, child.stdin]) {
      const ref = handle as { ref?: () => void; unref?: () => void } | null;
      if (busy) ref?.ref?.();
      else ref?.unref?.();
    }
  }
}

let shared: CommandHelper | undefined;

/** The process's one command helper. */
export function sharedCommandHelper(): CommandHelper {
  shared ??= new CommandHelper();
  return shared;
}

/**
 * A CommandRunner that starts commands through the command helper: the same results and errors
 * as ProcessCommandRunner, for long-lived processes (the service, scenario suites, the bench).
 */
export class HelperCommandRunner implements CommandRunner {
  constructor(private readonly helper: CommandHelper = sharedCommandHelper()) {}

  run(argv: readonly string[], options?: RunOptions): Promise<CommandResult> {
    return this.helper.run(argv, options);
  }
}

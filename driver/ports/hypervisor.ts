import type { MountEntry } from './mounts.js';

/** libvirt's domain states, lower-cased as `virsh domstate` prints them. */
export type DomainState =
  | 'nostate'
  | 'running'
  | 'blocked'
  | 'paused'
  | 'shutdown'
  | 'shut off'
  | 'crashed'
  | 'pmsuspended';

/** A domain as libvirt reports it. */
export interface DomainInfo {
  name: string;
  uuid: string;
  state: DomainState;
  /** Whether it has a persistent definition (survives destroy). */
  persistent: boolean;
}

/**
 * The libvirt LXC hypervisor (`lxc:///`). Domains are keyed by name.
 */
export interface Hypervisor {
  /** Defines (or redefines) a persistent domain from XML. InvalidInput on bad XML. Safe to repeat. */
  define(xml: string): Promise<DomainInfo>;

  /**
   * Starts a defined, inactive domain and resolves with its info as it stands right after the
   * start: `running` while its init lives, `shut off` when the container already stopped
   * (an init that exits at once). A snapshot, like any info: an init that dies a moment later
   * shows in the next info, not here. Fails with NotFound, FailedPrecondition (already
   * running), or the hypervisor's own start error (e.g. no init in the rootfs). Not idempotent.
   */
  start(name: string): Promise<DomainInfo>;

  /**
   * Stops a running domain at once (virsh destroy), a forced power-off: it resolves once the
   * domain is stopped. NotFound when it does not exist, FailedPrecondition when it is not
   * running. libvirt's "Some processes refused to die" arrives as a Busy error for the driver
   * to tolerate (the domain may then still be going down).
   */
  destroy(name: string): Promise<void>;

  /**
   * Asks a running domain to shut down cleanly (`virsh shutdown`: libvirt's LXC driver sends
   * SIGTERM to the container's init) and returns without waiting. The domain stops only if its
   * init acts on the signal; an init without a handler (PID 1 ignores unhandled signals) keeps
   * running. NotFound when absent, FailedPrecondition when not running.
   */
  shutdown(name: string): Promise<void>;

  /**
   * Drains what the running container has written to its console since the last read (the
   * host end of its pty; the tty writes `\n` as `\r\n`). '' when nothing is new or the domain
   * is not running. NotFound when absent. Not idempotent: each byte is returned once.
   */
  readConsole(name: string): Promise<string>;

  /** Removes the persistent definition of an inactive domain. NotFound when absent. */
  undefine(name: string): Promise<void>;

  /** The domain's info. NotFound when absent. Safe to repeat. */
  info(name: string): Promise<DomainInfo>;

  /**
   * Every domain, active or defined, everyone's (on a shared host, match by name). A domain
   * that vanishes while it is listed is left out, not an error. Reads only; safe to repeat.
   * Fails only when the hypervisor cannot be reached.
   */
  list(): Promise<DomainInfo[]>;

  /**
   * What the running container has mounted at its `/` (from /proc/<init pid>/mountinfo).
   * NotFound when the domain is absent, FailedPrecondition when it is not running.
   */
  containerRoot(name: string): Promise<MountEntry>;
}

/**
 * Nova's exceptions on the blockinfo path, with Nova's class names and message formats, so a
 * caller (or the case runner) can compare `novaType`, `module` and `message` with real Nova.
 * Python built-in errors that Nova lets escape (KeyError, AttributeError, TypeError,
 * ValueError) are modelled too: they are part of Nova's observable behaviour.
 */

/** Base of every error that mirrors a Python exception raised by Nova code. */
export class NovaError extends Error {
  /** The Python class name, e.g. `UnsupportedHardware`. */
  readonly novaType: string;
  /** The Python module that defines the class, e.g. `nova.exception` or `builtins`. */
  readonly module: string;

  constructor(novaType: string, module: string, message: string) {
    super(message);
    this.name = novaType;
    this.novaType = novaType;
    this.module = module;
  }

  /** The `{type, module, message}` triple the cases file records for a failure. */
  toJSON(): { type: string; module: string; message: string } {
    return { type: this.novaType, module: this.module, message: this.message };
  }
}

/** True for any NovaError (also across module copies, by shape). */
export function isNovaError(value: unknown): value is NovaError {
  return (
    value instanceof NovaError ||
    (value instanceof Error &&
      typeof (value as Partial<NovaError>).novaType === 'string' &&
      typeof (value as Partial<NovaError>).module === 'string')
  );
}

const NOVA_MODULE = 'nova.exception';

/** `nova.exception.NovaException`: "An unknown exception occurred." unless a message is given. */
export class NovaException extends NovaError {
  constructor(message = 'An unknown exception occurred.', novaType = 'NovaException') {
    super(novaType, NOVA_MODULE, message);
  }
}

/** `nova.exception.Invalid` (HTTP 400 base class of the Unsupported* errors). */
export class Invalid extends NovaException {
  constructor(message = 'Bad Request - Invalid Parameters', novaType = 'Invalid') {
    super(message, novaType);
  }
}

/** `nova.exception.InternalError`: msg_fmt is `%(err)s`, Nova passes the text positionally. */
export class InternalError extends NovaException {
  constructor(err: string) {
    super(err, 'InternalError');
  }
}

/** `nova.exception.UnsupportedHardware`: an image asks for a bus the virt type lacks. */
export class UnsupportedHardware extends Invalid {
  readonly model: string;
  readonly virt: string;

  constructor(model: string, virt: string) {
    super(
      `Requested hardware '${model}' is not supported by the '${virt}' virt driver`,
      'UnsupportedHardware',
    );
    this.model = model;
    this.virt = virt;
  }
}

/** `nova.exception.UnsupportedVirtType`: a virt type blockinfo has no bus table for. */
export class UnsupportedVirtType extends Invalid {
  readonly virt: string;

  constructor(virt: string) {
    super(
      `Virtualization type '${virt}' is not supported by this compute driver`,
      'UnsupportedVirtType',
    );
    this.virt = virt;
  }
}

/** `nova.exception.UnsupportedRescueDevice`: `hw_rescue_device` is not a device type. */
export class UnsupportedRescueDevice extends Invalid {
  constructor(device: string) {
    super(`Requested rescue device '${device}' is not supported`, 'UnsupportedRescueDevice');
  }
}

/** `nova.exception.UnsupportedRescueBus`: `hw_rescue_bus` is not valid for the virt type. */
export class UnsupportedRescueBus extends Invalid {
  constructor(bus: string, virt: string) {
    super(
      `Requested rescue bus '${bus}' is not supported by the '${virt}' virt driver`,
      'UnsupportedRescueBus',
    );
  }
}

/** `nova.exception.TooManyDiskDevices`: no free device name below the bus's limit. */
export class TooManyDiskDevices extends NovaException {
  readonly maximum: number;

  constructor(maximum: number) {
    super(
      `The maximum allowed number of disk devices (${maximum}) to attach to a single instance has been exceeded.`,
      'TooManyDiskDevices',
    );
    this.maximum = maximum;
  }
}

/** `nova.exception.ConfigDriveUnknownFormat`: `[DEFAULT]config_drive_format` is neither format. */
export class ConfigDriveUnknownFormat extends NovaException {
  constructor(format: string) {
    super(
      `Unknown config drive format ${format}. Select one of iso9660 or vfat.`,
      'ConfigDriveUnknownFormat',
    );
  }
}

/** A Python built-in exception escaping from Nova code (module `builtins`). */
export class PythonBuiltinError extends NovaError {
  constructor(
    novaType: 'KeyError' | 'AttributeError' | 'TypeError' | 'ValueError',
    message: string,
  ) {
    super(novaType, 'builtins', message);
  }
}

/** Python `KeyError(key)`; its str() is the repr of the key. */
export class PyKeyError extends PythonBuiltinError {
  constructor(key: string) {
    super('KeyError', `'${key}'`);
  }
}

/** Python `AttributeError` as raised for a missing attribute on `owner`. */
export class PyAttributeError extends PythonBuiltinError {
  constructor(owner: string, attribute: string) {
    super('AttributeError', `'${owner}' object has no attribute '${attribute}'`);
  }
}

/** Python `TypeError` (e.g. ordering a str against an int). */
export class PyTypeError extends PythonBuiltinError {
  constructor(message: string) {
    super('TypeError', message);
  }
}

/** Python `ValueError` (e.g. a JSON document that does not parse). */
export class PyValueError extends PythonBuiltinError {
  constructor(message: string) {
    super('ValueError', message);
  }
}

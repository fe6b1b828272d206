// A process environment variable set for the length of a call, and restored (or removed) after it.

function setEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

export function withEnv<T>(name: string, value: string | undefined, f: () => T): T {
  const before = process.env[name];
  setEnv(name, value);
  try {
    return f();
  } finally {
    setEnv(name, before);
  }
}

/** withEnv for an async call: restored once it settles. */
export async function withEnvAsync<T>(name: string, value: string | undefined, f: () => Promise<T>): Promise<T> {
  const before = process.env[name];
  setEnv(name, value);
  try {
    return await f();
  } finally {
    setEnv(name, before);
  }
}

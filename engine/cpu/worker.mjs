// A CPU worker thread (threads.ts): loads the TypeScript kernels through tsx (a worker does not
// inherit the main thread's module hooks), then runs parts of the jobs it is sent.
(await import('tsx/esm/api')).register();
await import('./worker-loop.ts');

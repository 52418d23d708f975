export * from './smtp-sink.ts';
export * from './services.ts';
export * from './env.ts';
export * from './processes.ts';
export * from './images.ts';
export * from './prometheus.ts';
export * from './tcp-proxy.ts';
export * from './wait.ts';

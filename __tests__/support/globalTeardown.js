module.exports = async function globalTeardown() {
  if (globalThis.__POSTGRES_SERVER__) await globalThis.__POSTGRES_SERVER__.stop();
};

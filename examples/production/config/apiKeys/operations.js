// An API key for scripts (e.g. POST /api/v1/schedule/<id>/run?apiKey=... to start a run now); the
// key itself comes from the environment.
module.exports = async function () {
  return {
    class: "ApiKey",
    id: "operations",
    name: "operations",
    apiKey: process.env.GROUPAROO_OPERATIONS_API_KEY,
    options: { permissionAllRead: true, permissionAllWrite: true },
  };
};

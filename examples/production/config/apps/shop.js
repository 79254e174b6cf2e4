// The postgres App of a production deployment. Every process of the cluster loads this file at boot.
// Connection details come from the environment of the process (a .js config may read process.env);
// the password and the application name are stored as the NAMES of environment variables: each
// process resolves GROUPAROO_OPTION__APP__<NAME> itself when it connects, so the password is never
// written to the core's database, and each process can show its own name in pg_stat_activity.
module.exports = async function () {
  return {
    class: "App",
    id: "shop_db",
    name: "Shop database",
    type: "postgres",
    options: {
      host: process.env.SHOP_DB_HOST || "localhost",
      port: process.env.SHOP_DB_PORT || "5432",
      database: process.env.SHOP_DB_DATABASE || "shop",
      schema: "public",
      user: process.env.SHOP_DB_USER || "grouparoo_reader", // a read-only role (README "Running in production")
      password: "SHOP_DB_PASSWORD", // GROUPAROO_OPTION__APP__SHOP_DB_PASSWORD
      application_name: "SHOP_DB_APPLICATION_NAME", // GROUPAROO_OPTION__APP__SHOP_DB_APPLICATION_NAME
      sslmode: process.env.SHOP_DB_SSLMODE || "prefer",
      connect_timeout: "10",
      statement_timeout: process.env.SHOP_DB_STATEMENT_TIMEOUT || "120",
      // pool_size is left to its default, which each process computes from its own WORKERS (+ 1, at
      // least 5); processes x pool_size must fit the server's max_connections (README "Running in production")
    },
  };
};

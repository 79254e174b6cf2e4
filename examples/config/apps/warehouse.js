// The postgres App. A .js config may export a function: this one reads the connection from the
// environment (the demo sets DEMO_PG_*), so no password is written in the repo.
module.exports = async function () {
  return {
    class: "App",
    id: "warehouse",
    name: "Warehouse",
    type: "postgres",
    options: {
      host: process.env.DEMO_PG_HOST || "localhost",
      port: process.env.DEMO_PG_PORT || "5432",
      database: process.env.DEMO_PG_DATABASE || "shop",
      schema: "public",
      user: process.env.DEMO_PG_USER || "grouparoo",
      password: process.env.DEMO_PG_PASSWORD || "",
      sslmode: process.env.DEMO_PG_SSLMODE || "prefer",
      statement_timeout: "120",
    },
  };
};

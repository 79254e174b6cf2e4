// Core models set up the way the core's own UI and config files leave them: options, then filters,
// then `ready`. Plain CommonJS that takes the core's model classes, so that the profile-era runner
// (core 0.5.1, in its own app folder: __tests__/legacy/profile-era.run.js) uses it as the 0.9 tests do.
"use strict";

/** A ready Property of a source: `{ sourceId, key, type, options, filters?, isArray? }`. */
async function readyProperty(Property, { sourceId, key, type, options, filters = [], isArray = false }) {
  const property = await Property.create({ key, type, sourceId, ...(isArray ? { isArray } : {}) });
  await property.setOptions(options);
  if (filters.length) await property.setFilters(filters);
  await property.update({ state: "ready" });
  return property;
}

/**
 * Core 0.9: the `warehouse` App on `appOptions`, a `Users` model and its primary source: the table
 * `users`, its `id` column the unique property `userId`. Returns `{ app, model, users }`, all ready.
 */
async function usersTableSource({ App, GrouparooModel, Source }, appOptions) {
  const app = await App.create({ name: "warehouse", type: "postgres" });
  await app.setOptions(appOptions);
  await app.update({ state: "ready" });
  const model = await GrouparooModel.create({ name: "Users", type: "profile" });
  const users = await Source.create({ name: "users", type: "postgres-import-table", appId: app.id, modelId: model.id });
  await users.setOptions({ table: "users" });
  await users.bootstrapUniqueProperty({ key: "userId", type: "integer", mappedColumn: "id" });
  await users.setMapping({ id: "userId" });
  await users.update({ state: "ready" });
  return { app, model, users };
}

module.exports = { readyProperty, usersTableSource };

import { v7 as uuidv7, validate, version } from "uuid";

/** A new UUIDv7: time-ordered, so B-tree inserts stay at the right edge and ids sort by creation. */
export function newId(): string {
  return uuidv7();
}

const UUID_SHAPE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** True for a canonical lower-case UUID (any version); what every id column accepts. */
export function isUuid(value: unknown): value is string {
  return typeof value === "string" && UUID_SHAPE.test(value) && validate(value);
}

/** True for a UUIDv7, the only shape of id this platform issues. */
export function isUuidV7(value: unknown): value is string {
  return isUuid(value) && version(value) === 7;
}

/**
 * runtape: record every event of a trading system run into a SQLite runs database and replay it
 * back as typed events.
 */
export { type ErrorHandler, EventBus, type SubscribeOptions } from "./bus.ts";
export {
  type Comparison,
  compareDecisions,
  DECISION_TYPES,
  formatComparison,
  MARKET_TYPES,
  type SourceRef,
  type TradingChange,
} from "./compare.ts";
export { type OpenOptions, openRunsDb, type RunsDb } from "./db.ts";
export {
  DEFAULT_IGNORE,
  type DiffOptions,
  type DiffResult,
  type Divergence,
  diffEvents,
  diffRuns,
  diffStreams,
  type FieldDifference,
  formatDiff,
  type RunRef,
} from "./diff.ts";
export * from "./errors.ts";
export * from "./events/catalog.ts";
export { newUuid, nowNs } from "./events/clock.ts";
export {
  addedIn,
  EventCatalog,
  type EventRole,
  type EventSpec,
  EXTENSION_SCHEMA_VERSION,
  type FieldEntry,
  PYTHON_SCHEMA_VERSION,
  type RequestAction,
  type RoleKind,
  SIDES,
} from "./events/event-catalog.ts";
export type { Field, FieldKind, Indicators, SqlValue } from "./events/fields.ts";
export { dumpsIndicators, loadsIndicators, pyFloatRepr } from "./events/pyjson.ts";
export {
  type EventInput,
  eventInputSchemas,
  eventSchemas,
  findInvalidField,
  makeEvent,
  makeEventTrusted,
  parseEvent,
} from "./events/schemas.ts";
export {
  EXPORT_FORMATS,
  type ExportFormat,
  type ExportOptions,
  type ExportSummary,
  exportRuns,
} from "./export.ts";
export { decodeRunId, encodeRunId } from "./formats/layout.ts";
export {
  type CheckFinding,
  checkDatabase,
  countEvents,
  inspectRun,
  listRunSummaries,
  type RecoveredRun,
  type RunDetail,
  type RunListEntry,
  recoverRuns,
  type SymbolTrading,
  unjudgeableRuns,
} from "./inspect.ts";
export { type Int64Style, parseJsonObject, stringifyExact } from "./json.ts";
export {
  CONFLICT_POLICIES,
  type ConflictPolicy,
  type MergedRun,
  type MergeOptions,
  mergeRuns,
} from "./merge.ts";
export {
  decodeEvent,
  encodeEvent,
  encodeEventInt64Strings,
  MAX_LINE_BYTES,
  type NdjsonInput,
  readNdjson,
} from "./ndjson.ts";
export { computePnl, type Pnl, PnlAccumulator, type PnlFill } from "./pnl.ts";
export {
  type CopySummary,
  copyRun,
  type RunOptions,
  recordNdjson,
  recordRun,
} from "./record.ts";
export {
  type OpenRunAtExit,
  onExitWithOpenRuns,
  openRunsWarning,
  Recorder,
  type RecorderOptions,
  type RecordingSummary,
} from "./recorder.ts";
export {
  type ReplayOptions,
  type ReplayStats,
  replay,
  replayOnto,
} from "./replay.ts";
export { type NdjsonReplayOptions, replayNdjson } from "./replay-ndjson.ts";
export {
  FEED_TYPES,
  type FeedRef,
  type RerunOptions,
  type RerunResult,
  rerun,
} from "./rerun.ts";
export {
  getRun,
  hasSequence,
  isRecordingAlive,
  listRuns,
  RUN_STATUSES,
  type RunReadOptions,
  type RunRow,
  type RunStatus,
  resolveRunId,
} from "./runs.ts";
export { renderMigration, renderSchema, requiredTables, SCHEMA_VERSION } from "./schema.ts";
export {
  type BrokerParameters,
  brokerParameters,
  DEFAULT_BROKER,
  SimulatedBroker,
} from "./sim/broker.ts";
export {
  type DemoFeedOptions,
  type DemoOptions,
  type DemoResult,
  demoConfig,
  demoSteps,
  runDemo,
} from "./sim/index.ts";
export { Random } from "./sim/random.ts";
export {
  CHUNK_EVENTS,
  defaultStoreUrl,
  isStoreUrl,
  openSource,
  type PgOpenOptions,
  PgStore,
  type PulledRun,
  type PullOptions,
  type PushedRun,
  type PushOptions,
  parseStoreUrl,
  pull,
  push,
  type RunSource,
  redactUrls,
  SqliteSource,
  type StoreTarget,
} from "./store/index.ts";
export { checkStore, inspectStoredRun, listSourceSummaries } from "./store/inspect.ts";
export {
  type ContextOptions,
  type LoadedStrategy,
  loadStrategy,
  type Strategy,
  type StrategyContext,
  type StrategyParams,
  strategyContext,
} from "./strategy.ts";
export { TradingTally, tradingFrom } from "./trading.ts";

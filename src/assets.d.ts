// Text imports (`with { type: "text" }`) that Bun inlines, so the compiled binary carries them.
declare module "*.sql" {
  const text: string;
  export default text;
}

// A Node.js app installed with pnpm for the buildpack tests: answers on
// $PORT with a word from the build (VERSION below, changed by the test)
// and its dependency's work.
const http = require("http");
const isNumber = require("is-number");

const VERSION = "v1";

http
  .createServer((req, res) => {
    res.end(`hello from pnpm ${VERSION}, 7 is a number: ${isNumber(7)}\n`);
  })
  .listen(Number(process.env.PORT));

// A Node.js app for the buildpack tests: answers on $PORT with a word from
// the build (VERSION below, changed by the test), what the build script
// made with a devDependency (built.txt) and its dependency's work.
const fs = require("fs");
const http = require("http");
const isNumber = require("is-number");

const built = fs.readFileSync("built.txt", "utf8").trim();

const VERSION = "v1";

http
  .createServer((req, res) => {
    res.end(`hello from node ${VERSION} on ${process.version}, built ${built}, 7 is a number: ${isNumber(7)}\n`);
  })
  .listen(Number(process.env.PORT));

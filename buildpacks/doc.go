// Package buildpacks embeds paas's built-in Cloud Native Buildpacks
// (Procfile, Go, Node.js, Python, static sites) as data. They follow the
// CNB buildpack API, so the builder treats them like any buildpack a user
// adds.
//
// Not built yet: see the Buildpacks issue.
package buildpacks

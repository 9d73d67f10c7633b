// Stands in for optional modules the single binary leaves out (bufferutil, utf-8-validate,
// supports-color, bindings): requiring it fails as a missing module does, and their users
// fall back, as they do when the module is not installed.
const err = new Error("not included in the brook single binary");
err.code = "MODULE_NOT_FOUND";
throw err;

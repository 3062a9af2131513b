package snapshot

// DeclaredStateStream lends declaredStateStream to the handler tests.
var DeclaredStateStream = declaredStateStream

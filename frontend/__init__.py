"""REST front processes: OVMS URL routing, TFS JSON codecs and dispatch to the workers."""

package callflow

// originateActionID is the ActionID of a request's Originate: the only key a
// failed OriginateResponse carries back.
func originateActionID(id string) string { return "wcb-orig-" + id }

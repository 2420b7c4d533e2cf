package netpath

import "golang.org/x/net/dns/dnsmessage"

// servFail answers query q with SERVFAIL (a test responder: a resolver
// whose upstream is cut off).
func servFail(q []byte) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(q)
	if err != nil {
		return nil
	}
	qs, _ := p.AllQuestions()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, RCode: dnsmessage.RCodeServerFailure, RecursionDesired: h.RecursionDesired, RecursionAvailable: true})
	_ = b.StartQuestions()
	for _, x := range qs {
		_ = b.Question(x)
	}
	out, _ := b.Finish()
	return out
}

package modbus

import (
	"encoding/hex"
	"time"
)

var _ unitPoller = (*Client)(nil)

// pollUnit is one poll through the interface scan's confirm loop polls
// through (unitPoller), so watch polls as confirm does and counts from the
// same record. The exchange is the client's own (Do): it mends an answer
// cut as a request and keeps FC 05/06 answers from being stripped as
// echoes, which a scan never needs.
func (c *Client) pollUnit(unit byte, req PDU, timeout time.Duration) (pollRec, *PDU, error) {
	x, err := c.do(unit, req, timeout)
	rec := pollRec{fc: req.Function, sentAt: x.At, latency: x.Latency}
	switch x.Outcome {
	case OutcomeOK:
		rec.ok, rec.value = true, hex.EncodeToString(x.Answer.Data)
	case OutcomeException:
		rec.ok, rec.exception = true, x.Answer.Exception()
	case OutcomeTimeout:
		rec.timeout = true
	case OutcomeCRC:
		rec.corrupt, rec.selfBad = 1, 1
	}
	if err != nil || !rec.ok {
		return rec, nil, err
	}
	return rec, x.Answer, nil
}

// halted reports whether another master was heard and the client may not
// talk over it (unitPoller).
func (c *Client) halted() bool { return c.Stopped() }

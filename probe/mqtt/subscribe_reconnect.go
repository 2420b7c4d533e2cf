package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ecdata/ectool/internal/ctxtime"
)

// The backoff between reconnect attempts: the first goes at once (a reset
// by a middlebox heals at once), then the wait doubles up to the maximum,
// which bounds how late the subscriber notices a broker that came back.
const (
	reconnectFirstWait = 100 * time.Millisecond
	reconnectMaxWait   = 5 * time.Second
)

// survivable reports whether a lost connection is worth reconnecting: a
// network loss or a broker going down (DISCONNECT unspecified, server busy,
// shutting down, keep-alive timeout) is; a broker that sent us away for a
// reason of ours (administrative action, session taken over by another
// client with our id, not authorised, a protocol error) is not: coming
// back would only be sent away again, or fight the other client.
func survivable(err error) bool {
	var re *ReasonError
	if errors.As(err, &re) && re.Packet == PacketDisconnect {
		switch re.Code {
		case 0x80, 0x89, 0x8B, 0x8D:
			return true
		}
		return false
	}
	return true
}

// lostReason words why the connection was lost, without the "connection
// lost" every outage starts with.
func lostReason(err error) string {
	msg, _ := Explain(err)
	for _, p := range []string{"connection to the broker lost: ", "the connection to the broker was lost: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	return msg
}

// fatalReconnect reports whether a failed reconnect attempt says that
// trying again cannot help: the broker refused us (CONNACK), or its
// certificate no longer verifies.
func fatalReconnect(err error) bool {
	var re *ReasonError
	var cv *tls.CertificateVerificationError
	return errors.As(err, &re) || errors.As(err, &cv)
}

// reconnect connects and subscribes again after the connection was lost
// (lost), with backoff, until it works, a refusal makes it pointless, or
// wctx ends (Ctrl-C, or Wait). The outage is recorded in the result and
// told to OnOutage at its start and end. A nil Client comes with the error
// that ends the run.
func (st *subState) reconnect(wctx, ctx context.Context, lost error) (Client, error) {
	msg := lostReason(lost)
	st.res.Outages = append(st.res.Outages, Outage{Start: time.Now(), Reason: msg, gap: st.tracker.MarkGap()})
	out := &st.res.Outages[len(st.res.Outages)-1]
	if st.o.OnOutage != nil {
		st.o.OnOutage(*out)
	}
	wait := reconnectFirstWait
	for {
		out.Attempts++
		c, err := Connect(wctx, st.o.Options)
		if err == nil {
			if _, err = subscribeAll(wctx, c, st.o); err == nil {
				out.End = time.Now()
				if st.o.OnOutage != nil {
					st.o.OnOutage(*out)
				}
				return c, nil
			}
			_ = c.Abort()
			var re *ReasonError
			if errors.As(err, &re) {
				m, h := Explain(err)
				return nil, &StepError{Step: StepSubscribe, Message: "subscribing again after the outage was refused: " + m, Hint: h, Err: err}
			}
		}
		if wctx.Err() != nil {
			break
		}
		if fatalReconnect(err) {
			m, h := Explain(err)
			return nil, &StepError{Step: StepOf(err), Message: fmt.Sprintf("reconnecting after the connection was lost (%s) failed: %s", msg, m), Hint: h, Err: err}
		}
		out.LastError, _ = Explain(err)
		if ctxtime.SleepUntil(wctx, time.Now().Add(wait), nil) != nil {
			break
		}
		wait = min(2*wait, reconnectMaxWait)
	}
	st.ended(ctx)
	last := ""
	if out.LastError != "" {
		last = "; last attempt: " + out.LastError
	}
	return nil, &StepError{Step: StepReceive, Err: lost,
		Message: fmt.Sprintf("the connection to the broker was lost (%s) and was not back before the end (after %d message(s); %d attempt(s) to reconnect%s)", msg, st.res.Received, out.Attempts, last),
		Hint:    "the broker stayed unreachable: check that it runs and the network path to it (mqtt check --every 30s watches the link)"}
}

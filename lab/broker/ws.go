package broker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// wsListener serves MQTT over WebSocket on a listener the lab has already
// bound, so an ephemeral port is known before the broker starts (mochi's own
// websocket listener binds inside Serve and never says which port it got).
type wsListener struct {
	id       string
	ln       net.Listener
	srv      *http.Server
	upgrader websocket.Upgrader
	log      *slog.Logger
	once     sync.Once

	mu        sync.Mutex
	establish listeners.EstablishFn
}

var _ listeners.Listener = (*wsListener)(nil)

func newWSListener(id string, ln net.Listener) *wsListener {
	return &wsListener{
		id: id,
		ln: ln,
		upgrader: websocket.Upgrader{
			Subprotocols: []string{"mqtt", "mqttv3.1"},
			CheckOrigin:  func(*http.Request) bool { return true },
		},
	}
}

func (l *wsListener) ID() string       { return l.id }
func (l *wsListener) Address() string  { return l.ln.Addr().String() }
func (l *wsListener) Protocol() string { return "ws" }

func (l *wsListener) Init(log *slog.Logger) error {
	l.log = log
	// The server exists before Serve runs, so a Close racing with Serve
	// shuts down the same server Serve uses.
	l.srv = &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			l.mu.Lock()
			establish := l.establish
			l.mu.Unlock()
			if establish == nil {
				http.Error(w, "not serving yet", http.StatusServiceUnavailable)
				return
			}
			c, err := l.upgrader.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer c.Close()
			// The upgrade cleared the HTTP server's deadlines: the
			// pre-CONNECT limit applies again until mochi sets its own.
			_ = c.NetConn().SetDeadline(time.Now().Add(preConnectTimeout))
			if err := establish(l.id, &wsConn{Conn: c.NetConn(), c: c}); err != nil {
				l.log.Debug("websocket client ended", "error", err)
			}
		}),
	}
	return nil
}

func (l *wsListener) Serve(establish listeners.EstablishFn) {
	l.mu.Lock()
	l.establish = establish
	l.mu.Unlock()
	_ = l.srv.Serve(l.ln)
}

func (l *wsListener) Close(closeClients listeners.CloseFn) {
	l.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = l.srv.Shutdown(ctx)
		_ = l.ln.Close()
	})
	closeClients(l.id)
}

// wsConn carries the MQTT byte stream in binary WebSocket messages.
type wsConn struct {
	net.Conn
	c *websocket.Conn
	r io.Reader // the message being read, nil between messages
	w sync.Mutex
}

var errNotBinary = errors.New("websocket message is not binary")

func (ws *wsConn) Read(p []byte) (int, error) {
	if tc, ok := ws.Conn.(*trackedConn); ok && !tc.entered.Load() {
		tc.entered.Store(true) // mochi reads: it has counted the connection in
	}
	for {
		if ws.r == nil {
			op, r, err := ws.c.NextReader()
			if err != nil {
				return 0, err
			}
			if op != websocket.BinaryMessage {
				return 0, errNotBinary
			}
			ws.r = r
		}
		n, err := ws.r.Read(p)
		if errors.Is(err, io.EOF) {
			ws.r = nil
			if n == 0 {
				continue
			}
			return n, nil
		}
		return n, err
	}
}

func (ws *wsConn) Write(p []byte) (int, error) {
	ws.w.Lock()
	defer ws.w.Unlock()
	if err := ws.c.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (ws *wsConn) Close() error { return ws.c.Close() }

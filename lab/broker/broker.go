// Package broker is the lab's embedded MQTT broker (mochi-mqtt): plain TCP,
// TLS, WebSocket and mutual-TLS listeners on loopback, a private CA and a
// client certificate generated at start, users with passwords and a
// per-user ACL, for MQTT 5 and 3.1.1.
//
// It imports nothing else of ectool but the certificate generator
// (internal/certs), so any test can start it as a second
// target beside mosquitto:
//
//	b, err := broker.Start(ctx, broker.Config{Dir: t.TempDir()})
//	defer b.Close()
//	tech := b.User("tech") // tech.Password, tech.PasswordFile
//	// connect to b.MQTT (mqtt://127.0.0.1:P), b.MQTTS with --ca b.CAFile, b.WS;
//	// b.MTLS also wants the client certificate b.ClientCertFile/b.ClientKeyFile
//
// The ACL is ordered, first match wins, and denies what no rule allows:
// nobody may use DeniedFilter; "gateway" may publish and subscribe only
// under ec-data/<site>/#; "tech" may use ectool/# and read ec-data/#;
// "admin" may use everything else. A refused MQTT 5 publish at QoS 1 or 2
// gets PUBACK/PUBREC 0x87 (not authorized), a refused subscription SUBACK
// 0x87; on 3.1.1 a refused QoS 1/2 publish closes the connection and a
// refused subscription gets SUBACK 0x80. A refused QoS 0 publish is dropped
// silently (the protocol has no way to say no).
package broker

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/ecdata/ectool/diag/exitcode"
)

// DeniedFilter is the topic tree no user may publish or subscribe to: the
// target of `ectool mqtt check --deny-topic`.
const DeniedFilter = "denied/#"

// Access is what a rule lets a user do with the topics a filter matches.
type Access string

// The kinds of access a rule grants.
const (
	Deny      Access = "deny"
	Read      Access = "read"  // subscribe and receive
	Write     Access = "write" // publish
	ReadWrite Access = "readwrite"
)

// Rule grants (or denies) Access to the topics matching Filter.
type Rule struct {
	Filter string `json:"filter"`
	Access Access `json:"access"`
}

// User is a broker account.
type User struct {
	Name     string `json:"username"`
	Password string `json:"password"`
	// PasswordFile holds Password (mode 0600), for --password-file.
	PasswordFile string `json:"password_file"`
	Rules        []Rule `json:"acl"`
}

// DefaultUsers are the lab's accounts for site: the gateway, a technician
// and an administrator, each with a random password.
func DefaultUsers(site string) []User {
	return []User{
		{Name: "gateway", Password: randomPassword(), Rules: []Rule{{"ec-data/" + site + "/#", ReadWrite}}},
		{Name: "tech", Password: randomPassword(), Rules: []Rule{{"ectool/#", ReadWrite}, {"ec-data/#", Read}}},
		{Name: "admin", Password: randomPassword(), Rules: []Rule{{"#", ReadWrite}}},
	}
}

// Config says where and how the broker runs.
type Config struct {
	// Site names the site; the gateway's ACL covers ec-data/<Site>/#. Default "lab".
	Site string
	// Dir receives ca.pem, server.pem, server-key.pem and <user>.password.
	// Required: the lab gives it a private temp dir.
	Dir string
	// Host is the address to listen on. Default 127.0.0.1.
	Host string
	// Ports of the listeners: 0 picks a free port, a negative value turns
	// the listener off. MTLSPort is a TLS listener that requires a client
	// certificate signed by the lab CA.
	MQTTPort, MQTTSPort, WSPort, MTLSPort int
	// Users are the accounts. Default DefaultUsers(Site). Users without a
	// password get a random one.
	Users []User
	// Logger receives mochi's log. Default: discarded.
	Logger *slog.Logger
	// WrapListener, when set, wraps each bound listener (name "mqtt",
	// "mqtts", "ws" or "mtls") before the broker serves it: the hook a recorder of
	// the broker's traffic uses.
	WrapListener func(name string, ln net.Listener) net.Listener
}

// Broker is a running lab broker.
type Broker struct {
	// URLs of the listeners ("" when turned off): mqtt://127.0.0.1:P,
	// mqtts://127.0.0.1:P, ws://127.0.0.1:P/mqtt, and MTLS, an mqtts://
	// listener that requires a client certificate.
	MQTT, MQTTS, WS, MTLS string
	// CAFile is the PEM file of the CA that signed the broker's certificate
	// (give it to --ca). CertFile and KeyFile are the broker's own.
	CAFile, CertFile, KeyFile string
	// ClientCertFile and ClientKeyFile are a client certificate (CN
	// gateway-<site>) and its key, signed by the lab CA: --cert and --key
	// for the MTLS listener.
	ClientCertFile, ClientKeyFile string
	// ServerNames are the DNS names in the broker's certificate (it is also
	// valid for 127.0.0.1 and ::1).
	ServerNames []string
	// Users are the accounts, with their passwords and password files.
	Users []User

	server    *mqtt.Server
	bound     []net.Listener // the raw listeners, below TLS and wrappers
	conns     *connTracker
	closeOnce sync.Once
	stopCtx   context.CancelFunc
}

// Start binds the listeners, writes the certificates and password files
// into cfg.Dir and serves until Close or until ctx ends.
func Start(ctx context.Context, cfg Config) (*Broker, error) {
	if cfg.Dir == "" {
		return nil, errors.New("broker: Config.Dir is required")
	}
	if cfg.Site == "" {
		cfg.Site = "lab"
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.Users == nil {
		cfg.Users = DefaultUsers(cfg.Site)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}

	p, err := makePKI(cfg.Dir, cfg.Site)
	if err != nil {
		return nil, fmt.Errorf("generating the lab certificates in %s: %w", cfg.Dir, err)
	}
	b := &Broker{CAFile: p.caFile, CertFile: p.certFile, KeyFile: p.keyFile, ServerNames: serverNames,
		ClientCertFile: p.clientCertFile, ClientKeyFile: p.clientKeyFile, conns: newConnTracker()}

	ledger, err := b.ledger(cfg)
	if err != nil {
		return nil, err
	}

	caps := mqtt.NewDefaultServerCapabilities()
	server := mqtt.New(&mqtt.Options{
		Capabilities:           caps,
		Logger:                 logger,
		InlineClient:           false,
		SysTopicResendInterval: 30,
	})
	if err := server.AddHook(new(auth.Hook), &auth.Options{Ledger: ledger}); err != nil {
		return nil, err
	}

	fail := func(err error) (*Broker, error) {
		for _, l := range b.bound {
			_ = l.Close()
		}
		_ = server.Close()
		return nil, err
	}
	if err := b.addListeners(server, cfg, p); err != nil {
		return fail(err)
	}
	if err := server.Serve(); err != nil {
		return fail(err)
	}
	b.server = server
	ctx, b.stopCtx = context.WithCancel(ctx)
	go func() {
		<-ctx.Done()
		_ = b.Close()
	}()
	return b, nil
}

// ledger writes each user's password file into cfg.Dir, records the users
// on b and returns mochi's auth ledger: the denied tree first, each user's
// rules, then deny what no rule allowed.
func (b *Broker) ledger(cfg Config) (*auth.Ledger, error) {
	ledger := &auth.Ledger{Users: auth.Users{}}
	// First rule: nobody touches the denied tree.
	ledger.ACL = append(ledger.ACL, auth.ACLRule{Filters: auth.Filters{DeniedFilter: auth.Deny}})
	for _, u := range cfg.Users {
		if u.Name == "" {
			return nil, errors.New("broker: a user without a name")
		}
		if u.Password == "" {
			u.Password = randomPassword()
		}
		u.PasswordFile = filepath.Join(cfg.Dir, u.Name+".password")
		if err := writeFile(u.PasswordFile, []byte(u.Password+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("writing the password file: %w", err)
		}
		ledger.Users[u.Name] = auth.UserRule{Username: auth.RString(u.Name), Password: auth.RString(u.Password)}
		// mochi's ledger allows a topic when any filter of the user's rule
		// grants the access asked for, and denies it when one matches
		// without granting it: rules of one user must not overlap with
		// contradicting access (they do not in DefaultUsers).
		f := auth.Filters{}
		for _, r := range u.Rules {
			f[auth.RString(r.Filter)] = ledgerAccess(r.Access)
		}
		ledger.ACL = append(ledger.ACL, auth.ACLRule{Username: auth.RString(u.Name), Filters: f})
		b.Users = append(b.Users, u)
	}
	// Last rule: deny what no rule allowed (mochi allows by default).
	ledger.ACL = append(ledger.ACL, auth.ACLRule{Filters: auth.Filters{"#": auth.Deny}})
	return ledger, nil
}

// addListeners binds the listeners cfg asks for (a negative port leaves one
// out) and adds them to server, recording each raw listener in b.bound
// and its URL on b.
func (b *Broker) addListeners(server *mqtt.Server, cfg Config, p *pki) error {
	listen := func(name string, port int, tlsCfg *tls.Config) (net.Listener, error) {
		addr := net.JoinHostPort(cfg.Host, strconv.Itoa(port))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, &ListenError{Name: name, Addr: addr, Err: err}
		}
		b.bound = append(b.bound, ln)
		ln = b.conns.listener(ln, name != "ws")
		if cfg.WrapListener != nil {
			ln = cfg.WrapListener(name, ln)
		}
		if tlsCfg != nil {
			ln = tls.NewListener(ln, tlsCfg)
		}
		return ln, nil
	}
	hostPort := func(ln net.Listener) string {
		return net.JoinHostPort(cfg.Host, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	}
	if cfg.MQTTPort >= 0 {
		ln, err := listen("mqtt", cfg.MQTTPort, nil)
		if err != nil {
			return err
		}
		if err := server.AddListener(listeners.NewNet("mqtt", ln)); err != nil {
			return err
		}
		b.MQTT = "mqtt://" + hostPort(ln)
	}
	if cfg.MQTTSPort >= 0 {
		tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{p.serverCert}}
		ln, err := listen("mqtts", cfg.MQTTSPort, tlsCfg)
		if err != nil {
			return err
		}
		if err := server.AddListener(listeners.NewNet("mqtts", ln)); err != nil {
			return err
		}
		b.MQTTS = "mqtts://" + hostPort(ln)
	}
	if cfg.WSPort >= 0 {
		ln, err := listen("ws", cfg.WSPort, nil)
		if err != nil {
			return err
		}
		if err := server.AddListener(newWSListener("ws", ln)); err != nil {
			return err
		}
		b.WS = "ws://" + hostPort(ln) + "/mqtt"
	}
	if cfg.MTLSPort >= 0 {
		tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{p.serverCert},
			ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: p.caPool}
		ln, err := listen("mtls", cfg.MTLSPort, tlsCfg)
		if err != nil {
			return err
		}
		if err := server.AddListener(listeners.NewNet("mtls", ln)); err != nil {
			return err
		}
		b.MTLS = "mqtts://" + hostPort(ln)
	}
	return nil
}

// ListenError is a listener that could not bind, usually because the port
// is taken by another program.
type ListenError struct {
	Name string // "mqtt", "mqtts" or "ws"
	Addr string
	Err  error
}

func (e *ListenError) Error() string {
	return fmt.Sprintf("the lab broker's %s listener cannot listen on %s: %v", e.Name, e.Addr, e.Err)
}

func (e *ListenError) Unwrap() error { return e.Err }

// ExitKind is exitcode.KindCannotRun: the lab cannot start.
func (e *ListenError) ExitKind() exitcode.Kind { return exitcode.KindCannotRun }

// NextStep says how to get a free port.
func (e *ListenError) NextStep() string {
	return "another program uses that port: choose another --port-base, or leave it out to use free ports"
}

// User returns the account called name (the zero User when there is none).
func (b *Broker) User(name string) User {
	for _, u := range b.Users {
		if u.Name == name {
			return u
		}
	}
	return User{}
}

// Clients is the number of clients connected now.
func (b *Broker) Clients() int {
	n := 0
	for _, cl := range b.server.Clients.GetAll() {
		if !cl.Closed() {
			n++
		}
	}
	return n
}

// Subscribers is the number of clients whose subscriptions match topic now
// (shared subscriptions count once per group member). It lets a caller
// wait until a subscriber it started is ready before publishing.
func (b *Broker) Subscribers(topic string) int {
	subs := b.server.Topics.Subscribers(topic)
	n := len(subs.Subscriptions)
	for _, group := range subs.Shared {
		n += len(group)
	}
	return n
}

// Close stops the listeners and disconnects every client. Calling it again
// does nothing.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		b.stopCtx()
		// No new connection from here on, and every accepted one counted
		// in by mochi before its Close waits for them (mochi's WaitGroup
		// must not see an Add racing with its Wait).
		for _, ln := range b.bound {
			_ = ln.Close()
		}
		b.conns.waitEntered(time.Second)
		done := make(chan struct{})
		go func() {
			// Sends DISCONNECT to every client, closes the listeners and
			// waits for every connection to end.
			_ = b.server.Close()
			close(done)
		}()
		select {
		case <-done:
			return
		case <-time.After(2 * time.Second):
		}
		// Connections mochi cannot disconnect (no CONNECT yet) are cut.
		b.conns.closeAll()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	})
	return nil
}

func ledgerAccess(a Access) auth.Access {
	switch a {
	case Read:
		return auth.ReadOnly
	case Write:
		return auth.WriteOnly
	case ReadWrite:
		return auth.ReadWrite
	default:
		return auth.Deny
	}
}

// randomPassword is 16 characters a person can type and a shell does not
// interpret.
func randomPassword() string {
	const alphabet = "abcdefghijkmnpqrstuvwxyz23456789"
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

package modbus

import "context"

// dialAndListen opens the target and hears the line before the first
// request, as read, watch and write each begin. It keeps the settings and
// the listen check (mayTalkOver is false for a write) in the result's
// fields. The caller defers the returned func, which keeps what was heard
// until then in *bus and closes the client. When the listen fails the
// client is closed here and *bus stays as it was.
func dialAndListen(ctx context.Context, o ClientOptions, mayTalkOver bool, settings *Settings, listen **listening, bus *Heard) (*Client, func(), error) {
	c, err := Dial(ctx, o)
	if err != nil {
		return nil, nil, err
	}
	*settings = c.Settings()
	if err := c.Listen(ctx); err != nil {
		c.Close()
		return nil, nil, targetError(o.Target, err)
	}
	*listen = c.listening(mayTalkOver)
	return c, func() { *bus = c.Heard; c.Close() }, nil
}

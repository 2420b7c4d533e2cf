package mqtt

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// ValidateTopic checks a topic name for PUBLISH: not empty, no wildcards, no
// NUL, valid UTF-8, at most 65535 bytes.
func ValidateTopic(topic string) error {
	if err := validateString(topic); err != nil {
		return err
	}
	if strings.ContainsAny(topic, "+#") {
		return fmt.Errorf("topic %q contains a wildcard (+ or #): wildcards are for subscriptions, a message is published to one topic", topic)
	}
	return nil
}

// ValidateFilter checks a topic filter for SUBSCRIBE: + only as a whole level,
// # only as the whole last level.
func ValidateFilter(filter string) error {
	if err := validateString(filter); err != nil {
		return err
	}
	levels := strings.Split(filter, "/")
	for i, l := range levels {
		switch {
		case strings.Contains(l, "#") && (l != "#" || i != len(levels)-1):
			return fmt.Errorf("filter %q: # must be the whole last level (a/b/#)", filter)
		case strings.Contains(l, "+") && l != "+":
			return fmt.Errorf("filter %q: + must be a whole level (a/+/c)", filter)
		}
	}
	if strings.HasPrefix(filter, "$share/") {
		parts := strings.SplitN(filter, "/", 3)
		if len(parts) < 3 || parts[1] == "" || parts[2] == "" || strings.ContainsAny(parts[1], "+#") {
			return fmt.Errorf("shared subscription %q must be $share/<group>/<filter>", filter)
		}
	}
	return nil
}

func validateString(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("topic is empty")
	case len(s) > 65535:
		return fmt.Errorf("topic is %d bytes long; MQTT allows 65535", len(s))
	case !utf8.ValidString(s):
		return fmt.Errorf("topic %q is not valid UTF-8", s)
	case strings.ContainsRune(s, 0):
		return fmt.Errorf("topic %q contains a NUL character", s)
	}
	return nil
}

// FiltersOverlap reports whether some topic matches both filters.
func FiltersOverlap(a, b string) bool {
	as, bs := strings.Split(a, "/"), strings.Split(b, "/")
	for i := 0; ; i++ {
		switch {
		case i < len(as) && as[i] == "#", i < len(bs) && bs[i] == "#":
			return true
		case i == len(as) || i == len(bs):
			return len(as) == len(bs)
		case as[i] == "+" || bs[i] == "+" || as[i] == bs[i]:
			continue
		default:
			return false
		}
	}
}

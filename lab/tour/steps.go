package tour

// Steps are the steps of `ectool lab tour`, in order. Each is one entry:
// its check ID (document it in docs/checks.md, "## tour"), a title, what
// it shows when it behaves as expected, and the function that runs its
// commands and judges their JSON. The steps do not depend on each other.
func Steps() []Step {
	return []Step{
		{
			ID:    "tour.retained",
			Title: "Retained telemetry: what a new subscriber sees first",
			Explain: "The gateway publishes every meter's reading at QoS 1 with the retain flag, so the broker keeps " +
				"the last reading of each topic and hands it to every new subscriber at once. A dashboard that " +
				"stays empty until the next reading arrives is looking at a gateway that does not retain.",
			Run: stepRetained,
		},
		{
			ID:    "tour.roundtrip",
			Title: "Round trip with sequence numbers: nothing lost, nothing duplicated",
			Explain: "mqtt pub --seq numbers every message and stamps its send time; mqtt sub --expect-seq counts what " +
				"arrived, lost, duplicated and out of order, and the latency. At QoS 1 the broker must deliver all " +
				"of them; loss here means a broker queue limit or a subscriber that was not connected yet.",
			Run: stepRoundtrip,
		},
		{
			ID:    "tour.check",
			Title: "The broker check ladder: everything fine",
			Explain: "mqtt check climbs from DNS to TCP, CONNECT (with the broker's limits), SUBSCRIBE, a round trip " +
				"at each QoS, a retained message and a Last Will. Every rung passed: this is what a healthy broker " +
				"and valid credentials look like. Exit code 0.",
			Run: stepCheck,
		},
		{
			ID:    "tour.tls",
			Title: "TLS: trusting the broker's CA with --ca",
			Explain: "The TLS rung checked the protocol version, the cipher, the certificate chain up to the lab's CA " +
				"(given with --ca), the days left before expiry and that the certificate names the host dialled.",
			Run: stepTLS,
		},
		{
			ID:    "tour.websocket",
			Title: "MQTT over WebSocket: the same broker through ws://",
			Explain: "The same MQTT session, carried inside an HTTP connection upgraded to a WebSocket: what a gateway " +
				"uses when the site's network lets only HTTP(S) out, or when the broker sits behind a web proxy. " +
				"Only the URL changes (ws://, or wss:// with TLS).",
			Run: stepWebSocket,
		},
		{
			ID:    "tour.tls_untrusted",
			Title: "TLS without the CA: the classic \"A TLS error occurred\"",
			Explain: "Without --ca, ectool trusts only the system's CAs, and the lab's certificate is signed by the " +
				"lab's own CA: the TLS rung fails with an unknown certificate authority and says so in words, " +
				"where other tools say \"A TLS error occurred\". The fix is --ca with the broker's CA file. Exit code 1.",
			Run: stepTLSUntrusted,
		},
		{
			ID:    "tour.mtls",
			Title: "Mutual TLS: the broker asks the client for its certificate",
			Explain: "The mTLS listener requires a client certificate signed by the lab CA. Without --cert and --key " +
				"the TLS rung fails and says the broker wants a certificate (TLS alert \"certificate required\"); " +
				"with the lab's client certificate the same check passes, and the TLS evidence shows it was " +
				"requested, sent and accepted.",
			Run: stepMTLS,
		},
		{
			ID:    "tour.bad_password",
			Title: "A wrong password: refused at CONNECT",
			Explain: "The network and TLS were fine, but the broker refused the login in its CONNACK (reason 0x86, " +
				"bad user name or password). ectool names the rung that failed and skips the ones that depend on " +
				"it, so the report points at the credentials, not at the network. Exit code 1.",
			Run: stepBadPassword,
		},
		{
			ID:    "tour.acl",
			Title: "The per-device ACL: the gateway's account may not leave its tree",
			Explain: "The gateway's account may only use ec-data/<site>/#, so the check put its own test topics inside " +
				"that tree (--topic-prefix) and then tried denied/x: the broker refused both the publish and the " +
				"subscription (reason 0x87, not authorized). That proves the ACL holds; a broker that accepted them " +
				"would fail this check.",
			Run: stepACL,
		},
		{
			ID:    "tour.will",
			Title: "The gateway loses power: its Last Will tells everyone",
			Explain: "The subscriber first got the retained \"online\" the gateway published when it connected. Then the " +
				"tour cut the gateway's connection without a DISCONNECT, as a power cut would, and the broker published " +
				"the Will the gateway registered at CONNECT: \"offline\", retained, so anyone subscribing later sees " +
				"the gateway offline instead of a stale \"online\".",
			Run: stepWill,
		},
		{
			ID:    "tour.capture",
			Title: "The lab records its own broker: a capture ring, live and fresh",
			Explain: "Everything above went through a broker the lab records into a rolling pcapng ring, as `ectool " +
				"capture` keeps one on a gateway (without root here: the lab writes the packets itself). capture " +
				"status found the writer alive and its status fresh; capture export cut the last 30 seconds, counted " +
				"back from the newest packet, into one file Wireshark opens.",
			Run: stepCapture,
		},
		{
			ID:    "tour.inspect",
			Title: "capture inspect: the refused login, explained from the recording",
			Explain: "The tour logged in with a wrong password, then read the ring back with capture inspect: it " +
				"reassembled the MQTT conversation, found the CONNECT the broker refused with reason 0x86 (bad user " +
				"name or password) and named the client, without Wireshark and without showing the password. " +
				"Exit code 1: a failed check.",
			Run: stepInspect,
		},
		{
			ID:    "tour.bus_scan",
			Title: "Scanning the RS-485 bus: every meter, and two at one address",
			Explain: "ectool scan probed each address on the simulated RS-485 line (through a transparent serial " +
				"server, rtuovertcp://) and polled every address that answered several times more. Meters 1, 2 and 3 " +
				"answer cleanly; at 17 two meters answer at once and their bytes overlap into frames with bad CRCs: " +
				"a collision, which mbpoll would report as an intermittent CRC error. Exit code 1.",
			Run: stepBusScan,
		},
		{
			ID:    "tour.bus_gateway",
			Title: "The same bus behind a Modbus TCP gateway: the collision hides",
			Explain: "Through the gateway each unit id is one Modbus TCP request. The gateway forwards it to the line and " +
				"answers exception 0x0B (target device failed to respond) when no valid answer comes back: absent " +
				"addresses, and the collided address 17 too, since the gateway drops the garbled frames. Behind a " +
				"gateway a collision looks like a missing meter; scan the RS-485 side to see it.",
			Run: stepBusGateway,
		},
		{
			ID:    "tour.bus_wrong_baud",
			Title: "A serial port at the wrong baud rate: a silent bus",
			Explain: "The scan opened the bus's PTY like a USB adapter, at 19200 baud on a 9600 baud line. The simulator " +
				"reads the port's settings and garbles the bytes as a real UART would: the meters cannot read the " +
				"requests, so nothing answers. A bus that is silent everywhere is wiring, termination or settings; " +
				"--auto-detect finds the baud rate and parity.",
			Run: stepBusWrongBaud,
		},
		{
			ID:    "tour.bus_autodetect",
			Title: "--auto-detect: finding the baud rate and parity",
			Explain: "With --auto-detect the scan first listened at each candidate setting, then probed a few addresses at " +
				"each until valid answers came back, and said what it concluded and how sure it is. The simulator " +
				"garbled every wrong guess, so the setting found is the bus's.",
			Run: stepBusAutodetect,
		},
		{
			ID:    "tour.scan_ids",
			Title: "--id-register: two serial numbers at one address tell the twins apart",
			Explain: "A second lab put two meters at 17 that take turns answering, so only their values differ. The lab " +
				"says which register holds each meter's serial number (40017 here); scan --id-register read it in " +
				"every confirming poll and found two serial numbers at one address: two meters, with the serial " +
				"numbers to look for on their labels. Exit code 1.",
			Run: stepScanIDs,
		},
		{
			ID:    "tour.modbus_profile",
			Title: "modbus read --meter: a meter read as quantities in units",
			Explain: "With its profile (--meter sdm630), modbus read asked the Eastron meter for the registers its manual " +
				"lists and decoded each as the manual says: voltages, currents, power and the energy counters in " +
				"volts, amperes, watts and kWh, each checked against its plausible range, each shown beside its " +
				"register in both notations (30073 = input register 72).",
			Run: stepModbusProfile,
		},
		{
			ID:    "tour.modbus_order",
			Title: "A meter that contradicts its manual: the word order found, not guessed",
			Explain: "Meter 3's firmware sends its 32-bit values with the two words swapped against its manual, the story " +
				"behind a cloud dashboard showing 1.2e-38 kWh. modbus read decoded every value in all four orders, " +
				"dropped those that give denormal or out-of-range numbers, found the meter's real order (warning, " +
				"exit code 0) and decoded the values in it: configure the gateway with that order.",
			Run: stepModbusOrder,
		},
		{
			ID:    "tour.modem_apn",
			Title: "The modem: good signal, registered, and no data",
			Explain: "probe modem asked the modem over its AT port for the SIM, the signal, the registration, the operator " +
				"and the data contexts. Everything is fine up to the data context: its APN is 'internet' where the " +
				"operator wants 'm2m.example', so it never gets an IP address. The check names both APNs. ectool " +
				"changes nothing on the modem. Exit code 1.",
			Run: stepModemAPN,
		},
		probeNetStep,
		probeRefusedStep,
	}
}

// probeNetStep and probeRefusedStep are the probe net steps (see the end
// of Steps).
var (
	probeNetStep = Step{
		ID:    "tour.probe_net",
		Title: "probe net: every layer to the broker's TLS listener",
		Explain: "probe net climbed the layers to the lab's TLS listener one by one: the interface and its route, DNS " +
			"(not needed for an IP address), ICMP echo (or skipped, with the reason, where this user may not ping), " +
			"TCP, the path MTU and TLS with the lab's CA. Each layer has its own deadline and its own line; the " +
			"first that breaks is named.",
		Run: stepProbeNet,
	}
	probeRefusedStep = Step{
		ID:    "tour.probe_refused",
		Title: "probe net: a closed port is refused, not timed out",
		Explain: "Nothing listens on the port the tour probed: the host answered the SYN with a reset, which probe net " +
			"reports as refused (the service is down or the port is wrong), not as a timeout (a firewall dropping " +
			"the packets) or no route. The layers above TCP are skipped with the reason. Exit code 1.",
		Run: stepProbeRefused,
	}
)

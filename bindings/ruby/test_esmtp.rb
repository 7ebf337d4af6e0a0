# frozen_string_literal: true

# Tests of the Ruby binding (esmtp.rb) against the aiosmtpd test servers.
# Usage: ESMTP_LIBRARY=build/lib/libesmtpc.so.1 ESMTP_TEST_ENV=STATE_DIR/env \
#        ruby bindings/ruby/test_esmtp.rb
# (STATE_DIR from tests/servers/ctl.sh start STATE_DIR; meson test sets
# ESMTP_LIBRARY itself.)
# SPDX-License-Identifier: MIT

require 'minitest/autorun'
require 'socket'
require_relative 'esmtp'

ENV_PATH = ENV.fetch('ESMTP_TEST_ENV', '/tmp/esmtp-test-servers/env')
SERVERS = begin
  File.readlines(ENV_PATH, chomp: true).each_with_object({}) do |line, h|
    key, value = line.split('=', 2)
    h[key] = value if value
  end.freeze
rescue SystemCallError
  # 77: Meson's skip; a failure where the servers are required (CI)
  warn "the test servers are not running (no #{ENV_PATH}): start them with " \
       'tests/servers/ctl.sh start DIR and set ESMTP_TEST_ENV=DIR/env'
  exit(ENV['ESMTP_TEST_REQUIRE_SERVERS'] == '1' ? 1 : 77)
end

class TestEsmtp < Minitest::Test
  HOST = SERVERS.fetch('SMTP_HOST', '127.0.0.1')
  PORT = Integer(SERVERS.fetch('AIOSMTPD_PORT'))
  RECORDS = SERVERS.fetch('AIOSMTPD_DIR')
  SENDER = 'ruby-sender@example.org'

  @@counter = 0 # rubocop:disable Style/ClassVars

  def mailbox(prefix = 'rb')
    @@counter += 1
    "#{prefix}-#{Process.pid}-#{@@counter}-#{rand(1 << 32).to_s(16)}@example.org"
  end

  # The recorder's ID.env naming rcpt (waits a little: it is written by rename).
  def record_for(rcpt)
    deadline = Time.now + 5
    loop do
      found = Dir.glob(File.join(RECORDS, '*.env')).find do |path|
        File.read(path).lines.include?("RCPT <#{rcpt}>\n")
      end
      return found if found
      flunk "no record in #{RECORDS} names #{rcpt}" if Time.now > deadline
      sleep 0.05
    end
  end

  def free_port
    server = TCPServer.new(HOST, 0)
    server.addr[1]
  ensure
    server&.close
  end

  def test_version_and_error_codes
    assert_match(/\A\d+\.\d+\.\d+\z/, Esmtp.version)
    assert_equal(-5, Esmtp::ECONNECT)
    assert_equal :ECONNECT, Esmtp::Error.new(Esmtp::ECONNECT).name
  end

  def test_send_records_exact_bytes
    rcpt = mailbox
    body = "From: #{SENDER}\nTo: #{rcpt}\nSubject: ruby binding\n\n" \
           ".a line that starts with a dot\nline two\r\n\xC3\xA9t\xC3\xA9 in UTF-8\n".b
    msg = nil
    returned = Esmtp::Session.open(HOST, PORT, tls: :none) do |s|
      msg = s.message(from: SENDER, to: [rcpt], body: body)
      assert_equal :pending, msg.status
      sent = s.send!
      assert_equal [msg], sent
      assert msg.ok?, msg.text
      assert_equal 250, msg.code
      assert_match(/OK id=/, msg.text)
      r = msg[rcpt]
      assert_equal rcpt, r.mailbox
      assert_equal :ok, r.status
      assert r.ok?
      assert_equal 250, r.code
      :done
    end
    assert_equal :done, returned

    env = record_for(rcpt)
    lines = File.read(env).lines.map(&:chomp)
    assert_match(/\AMAIL <#{Regexp.escape(SENDER)}>/, lines[0])
    assert_includes lines[0], 'BODY=8BITMIME'
    assert_equal ["RCPT <#{rcpt}>"], lines.grep(/\ARCPT /)
    eml = env.sub(/\.env\z/, '.eml')
    expected = body.gsub(/\r?\n/, "\r\n")
    assert_equal expected, File.binread(eml)

    # The session is gone: its message refuses to be read.
    err = assert_raises(Esmtp::Error) { msg.status }
    assert_equal Esmtp::ESTATE, err.code
  end

  def test_partly_rejected_recipients
    good = mailbox('rb-ok')
    bad = mailbox('reject-rb')
    Esmtp::Session.open(HOST, PORT, tls: :none) do |s|
      msg = s.message(from: SENDER, to: [good, bad], body: "Subject: partial\n\nhi\n")
      s.send!
      assert_equal :ok, msg.status
      ok, rejected = msg.recipients
      assert_equal [good, :ok, 250], [ok.mailbox, ok.status, ok.code]
      assert_equal bad, rejected.mailbox
      assert_equal :permfail, rejected.status
      refute rejected.ok?
      assert_equal 550, rejected.code
      assert_equal '5.1.1', rejected.enhanced
      assert_match(/Recipient address rejected/, rejected.text)
    end
    assert_equal ["RCPT <#{good}>"], File.read(record_for(good)).lines.map(&:chomp).grep(/\ARCPT /)
  end

  def test_transcript_and_progress_callbacks
    rcpt = mailbox
    seen = []
    events = []
    Esmtp::Session.open(HOST, PORT, tls: :none) do |s|
      s.on_transcript { |dir, line| seen << [dir, line] }
      s.on_progress { |event, _msg, r, _bytes| events << [event, r&.mailbox] }
      s.message(from: SENDER, to: rcpt, body: "Subject: transcript\n\nhi\n")
      # The FFI::Function objects must survive a collection: the session
      # keeps them referenced.
      GC.start
      GC.compact if GC.respond_to?(:compact)
      s.send!
    end
    assert(seen.any? { |dir, line| dir == :client && line.start_with?("MAIL FROM:<#{SENDER}>") }, seen.inspect)
    assert(seen.any? { |dir, line| dir == :server && line.start_with?('220') }, seen.inspect)
    assert(seen.any? { |dir, line| dir == :client && line == "RCPT TO:<#{rcpt}>" }, seen.inspect)
    assert(seen.all? { |_, line| !line.end_with?("\n") })
    assert_equal :connected, events.first[0]
    assert_includes events, [:recipient, rcpt]
    assert_includes events.map(&:first), :message_done
    assert_equal :disconnected, events.last[0]
  end

  def test_callback_exception_is_reraised_not_fatal
    boom = Class.new(StandardError)
    s = Esmtp::Session.new(HOST, PORT, tls: :none)
    msg = s.message(from: SENDER, to: mailbox, body: "Subject: raise\n\nhi\n")
    s.on_transcript { |_dir, line| raise boom, 'from the callback' if line.start_with?('MAIL') }
    assert_raises(boom) { s.send! }
    refute msg.ok?
    s.close
    s.close # idempotent
    assert s.closed?
  end

  def test_connect_failure_raises_econnect
    port = free_port
    msg = nil
    err = assert_raises(Esmtp::Error) do
      Esmtp::Session.open(HOST, port, tls: :none, timeout: 5000) do |s|
        msg = s.message(from: SENDER, to: [mailbox], body: "Subject: x\n\nx\n")
        s.send!
      end
    end
    assert_equal Esmtp::ECONNECT, err.code
    assert_equal :ECONNECT, err.name
    assert_equal Esmtp::Lib.esmtp_strerror(Esmtp::ECONNECT), err.reason
    refute_nil err.detail
    assert_includes err.message, err.reason
    assert_includes err.message, err.detail
    assert_nil err.reply_code # no server said anything
    refute_nil msg
  end

  def test_server_reply_that_ended_the_session_is_in_the_error
    err = assert_raises(Esmtp::Error) do
      Esmtp::Session.open(HOST, Integer(SERVERS.fetch('SINK_421_PORT')), tls: :none,
                                                                          timeout: 5000) do |s|
        s.message(from: SENDER, to: [mailbox], body: "Subject: x\n\nx\n")
        s.send!
      end
    end
    assert_equal :ESERVICE, err.name
    assert_equal 421, err.reply_code
    assert_equal '4.0.0', err.enhanced_code
  end

  def test_invalid_argument_raises_einval
    Esmtp::Session.open(HOST, PORT, tls: :none) do |s|
      err = assert_raises(Esmtp::Error) { s.message(from: 'a b@example.org', to: 'x@example.org', body: '') }
      assert_equal Esmtp::EINVAL, err.code
      assert_raises(ArgumentError) { s.tls = :bogus }
    end
  end

  def test_starttls_and_auth
    port = SERVERS['AIOSMTPD_AUTH_PORT']
    skip 'no AIOSMTPD_AUTH_PORT' unless port
    rcpt = mailbox
    Esmtp::Session.open(HOST, Integer(port), tls: :starttls) do |s|
      s.ca(file: SERVERS.fetch('TLS_CA_FILE'))
      s.tls_min_version = :tls1_2
      s.auth(SERVERS.fetch('SASL_USER'), SERVERS.fetch('SASL_PASSWORD'), mechanisms: %w[PLAIN LOGIN])
      msg = s.message(from: SENDER, to: rcpt, body: "Subject: tls\n\nhi\n")
      s.send!
      assert msg.ok?, msg.text
      assert_match(/\ATLSv1\.[23]\z/, s.tls_version)
      refute_nil s.tls_cipher
    end
    session = File.read(record_for(rcpt).sub(/\.env\z/, '.session'))
    assert_match(/^TLS TLSv1\.[23] /, session)
    assert_match(/^AUTH PLAIN #{Regexp.escape(SERVERS.fetch('SASL_USER'))}$/, session)
  end
end

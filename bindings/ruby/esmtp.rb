# frozen_string_literal: true

# esmtp for Ruby: a small wrapper over libesmtpc.so.1 on the ffi gem
# (Debian: ruby-ffi). No compile step; the library is loaded from
# $ESMTP_LIBRARY when set, otherwise "libesmtpc.so.1" from the linker's path.
#
#   require_relative 'esmtp'
#   Esmtp::Session.open('mail.example.org', 587) do |s|   # tls: :default = STARTTLS required
#     s.auth('me@example.org', 'secret')
#     msg = s.message(from: 'me@example.org', to: ['you@example.org'],
#                     body: "Subject: hi\n\nHello.\n")
#     s.send!                                  # raises Esmtp::Error if the session fails
#     msg.recipients.each { |r| puts "#{r.mailbox}: #{r.status} #{r.code} #{r.text}" }
#   end
#
# Ownership: a Session owns the C session and with it every message and
# recipient; Session.open with a block frees it at the end of the block,
# otherwise call #close (or leave it to the garbage collector). Result
# objects (Esmtp::Recipient) are plain Ruby copies and outlive the session.
# A session must be used from one thread at a time; different sessions may
# be used from different threads (send! releases the GVL while it runs).
#
# SPDX-License-Identifier: MIT

require 'ffi'

module Esmtp
  # The raw C functions. Everything here mirrors include/esmtp/esmtp.h.
  module Lib
    extend FFI::Library

    library = ENV['ESMTP_LIBRARY']
    ffi_lib(library.nil? || library.empty? ? 'libesmtpc.so.1' : library)

    # void (*)(esmtp_session *, esmtp_direction, const char *line, size_t len, void *)
    callback :transcript_cb, %i[pointer int pointer size_t pointer], :void
    # int (*)(esmtp_session *, esmtp_event, esmtp_message *, esmtp_recipient *, uint64_t, void *)
    callback :progress_cb, %i[pointer int pointer pointer uint64 pointer], :int

    attach_function :esmtp_strerror, [:int], :string
    attach_function :esmtp_version, [], :string
    attach_function :esmtp_status_name, [:int], :string

    attach_function :esmtp_session_new, [:pointer], :int
    attach_function :esmtp_session_free, [:pointer], :void
    attach_function :esmtp_session_set_server, %i[pointer string uint], :int
    attach_function :esmtp_session_set_helo_name, %i[pointer string], :int
    attach_function :esmtp_session_set_timeout, %i[pointer int uint], :int
    attach_function :esmtp_session_set_pipelining, %i[pointer int], :int
    attach_function :esmtp_session_set_chunking, %i[pointer int], :int

    attach_function :esmtp_session_set_tls, %i[pointer int], :int
    attach_function :esmtp_session_set_ca, %i[pointer string string], :int
    attach_function :esmtp_session_set_client_cert, %i[pointer string string], :int
    attach_function :esmtp_session_set_tls_min_version, %i[pointer int], :int
    attach_function :esmtp_session_set_tls_pin, %i[pointer string], :int
    attach_function :esmtp_session_set_tls_insecure_no_verify, %i[pointer int], :int
    attach_function :esmtp_session_tls_version, [:pointer], :string
    attach_function :esmtp_session_tls_cipher, [:pointer], :string
    attach_function :esmtp_session_tls_peer_subject, [:pointer], :string
    attach_function :esmtp_session_tls_resumed, [:pointer], :int

    attach_function :esmtp_session_set_auth, %i[pointer string string], :int
    attach_function :esmtp_session_set_auth_mechanisms, %i[pointer string], :int
    attach_function :esmtp_session_set_allow_plaintext_auth, %i[pointer int], :int

    attach_function :esmtp_session_set_progress_cb, %i[pointer progress_cb pointer], :int
    attach_function :esmtp_session_set_transcript_cb, %i[pointer transcript_cb pointer], :int

    attach_function :esmtp_session_add_message, %i[pointer pointer], :int
    attach_function :esmtp_message_set_reverse_path, %i[pointer string], :int
    attach_function :esmtp_message_add_recipient, %i[pointer string pointer], :int
    attach_function :esmtp_message_set_body, %i[pointer pointer size_t], :int

    # Blocking network I/O: let other Ruby threads run meanwhile. Callbacks
    # take the GVL back while they run.
    attach_function :esmtp_session_send, [:pointer], :int, blocking: true

    attach_function :esmtp_session_detail, [:pointer], :string
    attach_function :esmtp_session_reply_code, [:pointer], :int
    attach_function :esmtp_session_enhanced_code, [:pointer], :string
    attach_function :esmtp_session_greeting, [:pointer], :string
    attach_function :esmtp_session_extension, %i[pointer string], :string

    attach_function :esmtp_message_status, [:pointer], :int
    attach_function :esmtp_message_code, [:pointer], :int
    attach_function :esmtp_message_enhanced_code, [:pointer], :string
    attach_function :esmtp_message_text, [:pointer], :string
    attach_function :esmtp_message_recipient_count, [:pointer], :size_t
    attach_function :esmtp_message_recipient, %i[pointer size_t], :pointer

    attach_function :esmtp_recipient_mailbox, [:pointer], :string
    attach_function :esmtp_recipient_status, [:pointer], :int
    attach_function :esmtp_recipient_code, [:pointer], :int
    attach_function :esmtp_recipient_enhanced_code, [:pointer], :string
    attach_function :esmtp_recipient_text, [:pointer], :string
  end

  # Error codes (esmtp_error): Esmtp::ECONNECT == -5 and so on.
  ERROR_NAMES = {
    -1 => :EINVAL, -2 => :ENOMEM, -3 => :ESTATE, -4 => :ERESOLVE, -5 => :ECONNECT,
    -6 => :ETIMEOUT, -7 => :EIO, -8 => :EPROTO, -9 => :EREFUSED, -10 => :ESERVICE,
    -11 => :ECALLBACK, -12 => :EBARENEWLINE, -13 => :E8BIT, -14 => :EREAD,
    -15 => :ENOMESSAGE, -16 => :ETOOBIG, -17 => :ETLS, -18 => :ECERT, -19 => :ENOTLS,
    -20 => :ETLSMODE, -21 => :EAUTH, -22 => :ENOMECH
  }.freeze
  ERROR_NAMES.each { |code, name| const_set(name, code) }

  STATUSES = { 0 => :pending, 1 => :ok, 2 => :tempfail, 3 => :permfail, 4 => :unknown }.freeze
  DIRECTIONS = { 0 => :client, 1 => :server, 2 => :library }.freeze
  EVENTS = {
    1 => :connected, 2 => :greeting, 3 => :extensions, 4 => :recipient, 5 => :body_bytes,
    6 => :message_done, 7 => :disconnected, 8 => :tls, 9 => :authenticated,
    10 => :dsn_dropped, 11 => :params_dropped
  }.freeze
  TLS_MODES = { default: 0, none: 1, starttls: 2, starttls_optional: 3, implicit: 4 }.freeze
  TLS_VERSIONS = { tls1_2: 12, tls1_3: 13, 12 => 12, 13 => 13 }.freeze
  TIMEOUT_PHASES = {
    connect: 0, greeting: 1, command: 2, data_init: 3, data_block: 4, data_end: 5, all: 6
  }.freeze

  # Raised when a call fails or a session ends early. #code is the negative
  # ESMTP_E* value (compare with Esmtp::ECONNECT ...), #name its symbol
  # (:ECONNECT), #reason esmtp's short description and #detail the session's
  # account of the failure, with the server's reply when there was one;
  # #reply_code (Integer) and #enhanced_code (String) are that reply's codes,
  # or nil.
  class Error < StandardError
    attr_reader :code, :reason, :detail, :reply_code, :enhanced_code

    def initialize(code, detail = nil, reply_code = nil, enhanced_code = nil)
      @code = code
      @reason = Lib.esmtp_strerror(code)
      @detail = detail.nil? || detail.empty? ? nil : Esmtp.text(detail)
      @reply_code = reply_code&.positive? ? reply_code : nil
      @enhanced_code = enhanced_code.nil? || enhanced_code.empty? ? nil : enhanced_code
      super(@detail ? "#{@reason} (#{name}): #{@detail}" : "#{@reason} (#{name})")
    end

    def name
      ERROR_NAMES.fetch(code, :EUNKNOWN)
    end
  end

  # The outcome for one envelope recipient: a copy taken when it is asked for.
  Recipient = Struct.new(:mailbox, :status, :code, :enhanced, :text, keyword_init: true) do
    def ok?
      status == :ok
    end

    def to_s
      "#{mailbox}: #{status} #{code} #{enhanced} #{text}".squeeze(' ').strip
    end
  end

  # The library's version string ("0.1.0").
  def self.version
    Lib.esmtp_version
  end

  # Raises Esmtp::Error for a negative return code, returns it otherwise.
  def self.check(code, detail = nil, reply_code = nil, enhanced_code = nil)
    raise Error.new(code, detail, reply_code, enhanced_code) if code.negative?

    code
  end

  # C strings come back as ASCII-8BIT; replies and addresses are meant as
  # UTF-8, so label them so when they are valid UTF-8.
  def self.text(str)
    return nil if str.nil?

    s = str.dup.force_encoding(Encoding::UTF_8)
    s.valid_encoding? ? s : s.force_encoding(Encoding::BINARY)
  end

  # The recipient at ptr, copied out.
  def self.recipient_at(ptr)
    Recipient.new(
      mailbox: text(Lib.esmtp_recipient_mailbox(ptr)),
      status: STATUSES.fetch(Lib.esmtp_recipient_status(ptr), :unknown),
      code: Lib.esmtp_recipient_code(ptr),
      enhanced: Lib.esmtp_recipient_enhanced_code(ptr),
      text: text(Lib.esmtp_recipient_text(ptr))
    ).freeze
  end

  # One message queued on a session. Its getters read the live C state, so
  # they work only while the session is open (Esmtp::Error ESTATE after).
  class Message
    attr_reader :session

    def initialize(session, ptr)
      @session = session
      @ptr = ptr
    end

    # The C pointer; raises once the session is closed.
    def to_ptr
      @session.to_ptr
      @ptr
    end

    def status
      STATUSES.fetch(Lib.esmtp_message_status(to_ptr), :unknown)
    end

    def ok?
      status == :ok
    end

    def code
      Lib.esmtp_message_code(to_ptr)
    end

    def enhanced
      Lib.esmtp_message_enhanced_code(to_ptr)
    end

    def text
      Esmtp.text(Lib.esmtp_message_text(to_ptr))
    end

    # Adds one more envelope recipient.
    def add_recipient(mailbox)
      Esmtp.check(Lib.esmtp_message_add_recipient(to_ptr, mailbox.to_s, nil))
      self
    end

    # Every recipient's outcome, in the order added (copies).
    def recipients
      ptr = to_ptr
      Array.new(Lib.esmtp_message_recipient_count(ptr)) do |i|
        Esmtp.recipient_at(Lib.esmtp_message_recipient(ptr, i))
      end
    end

    # The outcome for one mailbox (as given), or nil.
    def [](mailbox)
      recipients.find { |r| r.mailbox == mailbox }
    end

    def inspect
      "#<Esmtp::Message #{@session.closed? ? 'closed' : status}>"
    end
  end

  # A connection to one server with its queue of messages.
  class Session
    # Opens a session; with a block, yields it and frees it afterwards
    # (whatever happens) and returns the block's value.
    def self.open(host, port = 25, **options)
      session = new(host, port, **options)
      return session unless block_given?

      begin
        yield session
      ensure
        session.close
      end
    end

    # tls: :default (implicit TLS on 465, STARTTLS required elsewhere),
    # :none, :starttls, :starttls_optional or :implicit. timeout: milliseconds
    # for every phase. helo: the EHLO name.
    def initialize(host, port = 25, tls: :default, timeout: nil, helo: nil)
      out = FFI::MemoryPointer.new(:pointer)
      Esmtp.check(Lib.esmtp_session_new(out))
      # Freed by #close, or by the garbage collector if it never is.
      @ptr = FFI::AutoPointer.new(out.read_pointer, Lib.method(:esmtp_session_free))
      @messages = []
      @transcript = nil
      @progress = nil
      @callback_error = nil
      # The FFI::Function objects C holds: referenced here so that the
      # garbage collector cannot free them while the session may call them.
      @callbacks = {}
      check(Lib.esmtp_session_set_server(to_ptr, host.to_s, Integer(port)))
      self.tls = tls
      self.timeout = timeout if timeout
      self.helo_name = helo if helo
      install_progress
    end

    # The C pointer; raises Esmtp::Error (ESTATE) once closed.
    def to_ptr
      raise Error.new(ESTATE, 'the session is closed') if @ptr.nil?

      @ptr
    end

    def closed?
      @ptr.nil?
    end

    # Frees the session with its messages (without QUIT). Idempotent.
    def close
      return if @ptr.nil?

      @ptr.free
      @ptr = nil
      @callbacks.clear
      nil
    end
    alias free close

    # ------------------------------------------------------------- settings

    def tls=(mode)
      check(Lib.esmtp_session_set_tls(to_ptr, TLS_MODES.fetch(mode) { raise ArgumentError, "bad TLS mode #{mode.inspect}" }))
    end

    # Trusts a CA file (PEM) and/or a hashed directory instead of the system store.
    def ca(file: nil, dir: nil)
      check(Lib.esmtp_session_set_ca(to_ptr, file, dir))
      self
    end

    def ca_file=(file)
      ca(file: file)
    end

    def client_cert(cert_file, key_file)
      check(Lib.esmtp_session_set_client_cert(to_ptr, cert_file, key_file))
      self
    end

    # :tls1_2 (default) or :tls1_3 (12 and 13 work too).
    def tls_min_version=(version)
      check(Lib.esmtp_session_set_tls_min_version(to_ptr, TLS_VERSIONS.fetch(version) { raise ArgumentError, "bad TLS version #{version.inspect}" }))
    end

    # base64 SHA-256 of the server's SubjectPublicKeyInfo; nil removes it.
    def tls_pin=(pin)
      check(Lib.esmtp_session_set_tls_pin(to_ptr, pin))
    end

    # INSECURE, for tests: accept any certificate.
    def tls_insecure_no_verify=(flag)
      check(Lib.esmtp_session_set_tls_insecure_no_verify(to_ptr, flag ? 1 : 0))
    end

    # The negotiated TLS version ("TLSv1.3"), cipher and peer subject; nil without TLS.
    def tls_version
      Lib.esmtp_session_tls_version(to_ptr)
    end

    def tls_cipher
      Lib.esmtp_session_tls_cipher(to_ptr)
    end

    def tls_peer_subject
      Esmtp.text(Lib.esmtp_session_tls_peer_subject(to_ptr))
    end

    def tls_resumed?
      Lib.esmtp_session_tls_resumed(to_ptr) == 1
    end

    # SMTP AUTH. mechanisms: "PLAIN,LOGIN" or an array; allow_plaintext:
    # permit password mechanisms without TLS.
    def auth(user, password = nil, mechanisms: nil, allow_plaintext: nil)
      check(Lib.esmtp_session_set_auth(to_ptr, user, password))
      mechanisms = mechanisms.join(',') if mechanisms.is_a?(Array)
      check(Lib.esmtp_session_set_auth_mechanisms(to_ptr, mechanisms)) if mechanisms
      check(Lib.esmtp_session_set_allow_plaintext_auth(to_ptr, allow_plaintext ? 1 : 0)) unless allow_plaintext.nil?
      self
    end

    def helo_name=(name)
      check(Lib.esmtp_session_set_helo_name(to_ptr, name))
    end

    # Milliseconds for every phase, or a hash such as { connect: 2000, data_end: 60_000 }.
    def timeout=(value)
      phases = value.is_a?(Hash) ? value : { all: value }
      phases.each do |phase, ms|
        check(Lib.esmtp_session_set_timeout(to_ptr, TIMEOUT_PHASES.fetch(phase) { raise ArgumentError, "bad phase #{phase.inspect}" }, Integer(ms)))
      end
    end

    def pipelining=(flag)
      check(Lib.esmtp_session_set_pipelining(to_ptr, flag ? 1 : 0))
    end

    def chunking=(flag)
      check(Lib.esmtp_session_set_chunking(to_ptr, flag ? 1 : 0))
    end

    # ------------------------------------------------------------ callbacks

    # Calls the block with (direction, line) for every protocol line:
    # direction is :client, :server or :library, line has no CRLF. nil
    # clears it. If the block raises, the session is aborted at the next
    # step and send! re-raises the exception.
    def on_transcript(&block)
      @transcript = block
      fn = nil
      if block
        fn = FFI::Function.new(:void, %i[pointer int pointer size_t pointer]) do |_s, dir, line, len, _u|
          guard do
            @transcript&.call(DIRECTIONS.fetch(dir, dir), Esmtp.text(line.read_bytes(len)))
          end
          nil
        end
      end
      @callbacks[:transcript] = fn
      check(Lib.esmtp_session_set_transcript_cb(to_ptr, fn, nil))
      self
    end

    # Calls the block with (event, message, recipient, bytes): event is a
    # symbol (:connected, :greeting, :recipient, :message_done, ...),
    # message an Esmtp::Message or nil, recipient an Esmtp::Recipient copy or
    # nil. If the block raises, the session stops (ECALLBACK) and send!
    # re-raises the exception. nil clears it.
    def on_progress(&block)
      @progress = block
      self
    end

    # ---------------------------------------------------------------- mail

    # Queues a message: from is the envelope sender ("" for <>), to one or
    # more recipients, body the complete RFC 5322 text (any line ends).
    def message(from:, to:, body:)
      out = FFI::MemoryPointer.new(:pointer)
      check(Lib.esmtp_session_add_message(to_ptr, out))
      msg = Message.new(self, out.read_pointer)
      @messages << msg
      check(Lib.esmtp_message_set_reverse_path(msg.to_ptr, from.to_s))
      Array(to).each { |mailbox| msg.add_recipient(mailbox) }
      data = body.to_s.b
      buf = FFI::MemoryPointer.new(:char, [data.bytesize, 1].max)
      buf.put_bytes(0, data)
      check(Lib.esmtp_message_set_body(msg.to_ptr, buf, data.bytesize))
      msg
    end

    def messages
      @messages.dup
    end

    # Connects, sends every queued message and quits. Returns the messages
    # (their status may still be :permfail etc.: look at them); raises
    # Esmtp::Error when the session ends early, or the exception a callback
    # raised.
    def send!
      @callback_error = nil
      rc = Lib.esmtp_session_send(to_ptr)
      if @callback_error
        err = @callback_error
        @callback_error = nil
        raise err
      end
      Esmtp.check(rc, detail, Lib.esmtp_session_reply_code(to_ptr),
                  Lib.esmtp_session_enhanced_code(to_ptr))
      messages
    end

    # The last failure, complete with the server's reply; nil when none.
    def detail
      d = Lib.esmtp_session_detail(to_ptr)
      d.nil? || d.empty? ? nil : Esmtp.text(d)
    end

    def greeting
      Esmtp.text(Lib.esmtp_session_greeting(to_ptr))
    end

    # The parameters of an EHLO keyword ("" when none), or nil if not offered.
    def extension(keyword)
      Lib.esmtp_session_extension(to_ptr, keyword.to_s)
    end

    def inspect
      "#<Esmtp::Session #{closed? ? 'closed' : "#{@messages.size} message(s)"}>"
    end

    private

    def check(code)
      Esmtp.check(code)
    end

    # Runs a callback body. Nothing may unwind through the C library's
    # frames, so every exception is kept for send! to re-raise.
    def guard
      yield
    rescue Exception => e # rubocop:disable Lint/RescueException
      @callback_error ||= e
    end

    # The progress callback is always installed: it runs the user's block
    # and aborts the session once any callback has raised.
    def install_progress
      fn = FFI::Function.new(:int, %i[pointer int pointer pointer uint64 pointer]) do |_s, ev, m, r, bytes, _u|
        if @progress && @callback_error.nil?
          guard do
            msg = m.null? ? nil : @messages.find { |x| x.to_ptr.address == m.address }
            rcpt = r.null? ? nil : Esmtp.recipient_at(r)
            @progress.call(EVENTS.fetch(ev, ev), msg, rcpt, bytes)
          end
        end
        @callback_error ? 1 : 0
      end
      @callbacks[:progress] = fn
      check(Lib.esmtp_session_set_progress_cb(to_ptr, fn, nil))
    end
  end
end

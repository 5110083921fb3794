-- Delivery statuses (WhatsApp's sent/delivered/read/failed) name the reply
-- by the provider's message id.
CREATE INDEX outbound_messages_provider_id ON outbound_messages (channel_name, provider_message_id)
    WHERE provider_message_id IS NOT NULL;

//! A Kafka client on a raw socket, for tests that send exact bytes or check exact error codes:
//! requests and responses are kafka-protocol's structs, encoded by hand-picked versions.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, CreateTopicsResponse, ProduceRequest, ProduceResponse, RequestHeader, ResponseHeader,
    TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use crate::broker_process::BrokerProcess;

/// Opens a connection with a read timeout.
pub fn connect(broker: &BrokerProcess) -> TcpStream {
    let stream = TcpStream::connect(broker.addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    stream
}

/// Writes `body` with its size prefix.
pub fn send_frame(stream: &mut TcpStream, body: &[u8]) {
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(body);
    stream.write_all(&frame).expect("write");
}

/// Encodes header and body of a request (correlation id 7).
pub fn encode_request<R: Encodable>(api: ApiKey, version: i16, request: &R) -> BytesMut {
    let mut buf = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_static_str("raw-client-test")))
        .encode(&mut buf, api.request_header_version(version))
        .expect("header");
    request.encode(&mut buf, version).expect("body");
    buf
}

/// Reads one response frame and returns its body after the header (checking the correlation id).
pub fn read_response(stream: &mut TcpStream, api: ApiKey, version: i16) -> Bytes {
    let mut size = [0u8; 4];
    stream.read_exact(&mut size).expect("response size");
    let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
    stream.read_exact(&mut body).expect("response body");
    let mut body = Bytes::from(body);
    let header = ResponseHeader::decode(&mut body, api.response_header_version(version)).expect("response header");
    assert_eq!(header.correlation_id, 7);
    body
}

/// Sends a request and decodes its response.
pub fn call<Req: Encodable, Resp: Decodable>(stream: &mut TcpStream, api: ApiKey, version: i16, request: &Req) -> Resp {
    send_frame(stream, &encode_request(api, version, request));
    let mut body = read_response(stream, api, version);
    Resp::decode(&mut body, version).expect("decode response")
}

/// Produces `records` to partition 0 of `topic` with Produce v9; returns (error code, message).
pub fn produce_one(stream: &mut TcpStream, topic: &str, acks: i16, records: Bytes) -> (i16, Option<String>) {
    let request = ProduceRequest::default().with_acks(acks).with_timeout_ms(5000).with_topic_data(vec![
        TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partition_data(vec![PartitionProduceData::default().with_index(0).with_records(Some(records))]),
    ]);
    let response: ProduceResponse = call(stream, ApiKey::Produce, 9, &request);
    let partition = &response.responses[0].partition_responses[0];
    (partition.error_code, partition.error_message.as_ref().map(|m| m.to_string()))
}

/// Creates a one-partition topic with CreateTopics v7; returns (error code, message).
pub fn create_topic(stream: &mut TcpStream, name: &str, replication: i16, configs: &[(&str, &str)]) -> (i16, String) {
    let topic = CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_string(name.to_string())))
        .with_num_partitions(1)
        .with_replication_factor(replication)
        .with_configs(
            configs
                .iter()
                .map(|(k, v)| {
                    CreatableTopicConfig::default()
                        .with_name(StrBytes::from_string(k.to_string()))
                        .with_value(Some(StrBytes::from_string(v.to_string())))
                })
                .collect(),
        );
    let response: CreateTopicsResponse =
        call(stream, ApiKey::CreateTopics, 7, &CreateTopicsRequest::default().with_topics(vec![topic]));
    let result = &response.topics[0];
    (result.error_code, result.error_message.as_ref().map(|m| m.to_string()).unwrap_or_default())
}

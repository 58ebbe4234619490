--
-- PostgreSQL database dump
--

-- Dumped from database version 14.6
-- Dumped by pg_dump version 14.6

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: users; Type: TABLE; Schema: public; Owner: botapp
--

CREATE TABLE public.users (
    id integer NOT NULL,
    email character varying(255) NOT NULL,
    name character varying(255)
);


ALTER TABLE public.users OWNER TO botapp;

--
-- Name: exchange_accounts; Type: TABLE; Schema: public; Owner: botapp
--

CREATE TABLE public.exchange_accounts (
    id integer NOT NULL,
    user_id integer NOT NULL,
    market_code character varying(32) NOT NULL,
    api_key text NOT NULL,
    api_secret text NOT NULL,
    passphrase text
);


ALTER TABLE public.exchange_accounts OWNER TO botapp;

--
-- Data for Name: users; Type: TABLE DATA; Schema: public; Owner: botapp
--

COPY public.users (id, email, name) FROM stdin;
201	ann@example.com	Ann
202	bob@example.com	Bob\tthe builder
203	corp@example.com	CORP\\trader
204	dee@example.com	\N
\.


--
-- Data for Name: exchange_accounts; Type: TABLE DATA; Schema: public; Owner: botapp
--

COPY public.exchange_accounts (id, user_id, market_code, api_key, api_secret, passphrase) FROM stdin;
1	203	binance	FAKEwugxKDMxEYw8E41psm99rd3c0HUB9GUuiq0vNKx9tarVDZKHmSfDR4qG1Huv	FAKEqAqNmxN7e0Wh8aTchWf2gg3UPf8ss4rCvcH5bAtXxjhphG66O4kuVL9vgaCF	\N
2	206	okex	b72e37c7-a355-40ae-a9c3-c6c29aa395e9	7149A225B4E1240935B9313955EF66F9	Fake-31dA0e5m
3	209	kucoin	10ee4890f395afdfbac7d712	39ddf539-385e-4bc2-b28a-21aba35ecee1	Fake-ItgM2s3G
4	212	gateio	7e832f14c73ea47ddfe0918f0f7e4e53	9271be93cd9d93f8bc07ac3c793647578e0428dba0d4653d2e42f600e0443c06	\N
5	215	mexc	mx0FAKE4qNXM6jMsCi	b49e10be427a111bcb33c0d109df885e	\N
6	218	binance	FAKE2F4KTsWwAFwoYgh9rO1ByihtkrzoW22lTiQK6QXeY8XcreDOyQQlpaY2vNWU	FAKE7plOuoNQtfAGZ6lr8HhgSP0ZSK45QZ4ZpDSJwfGIYAl4ZjuAWiExUKY9GVkC	\N
7	221	bitget	bg_df73705671cdaf42855054b81232e403	acfdece74dab49be81fe2baaf08c864c2ba09567c7e36c867a8ab60f570763c4	Fake-wD88n1tZ
8	224	kraken	FAKECXnFXT8wIGouW7kthwLpwZ6vbKlelg1hNbqNqi3l2o+Kqt+rEb8z	FAKEKg/eFSJrNBmOxw6TkSBrJkzYIW7AEpb8xKc9tr7XGCF34PT/vr17XeHrONxnlhxCEzzT3duRy7lQ9KolTFN8	\N
9	227	bybit	FAKEh5jQplLAQKpW96	FAKE68Bkp94STuHznvZffzmH4bYEaF5pohwn	\N
10	230	binance	FAKEAMXlkENpqLWoNB1BV8JnKP3G6AriKrMrbEfSHrSfd9w02TsXxbUb5BQyGydR	FAKEAdLI79E8aygcMvLPnyAlZUVRXwBC49vuZX5YeW7RbuKqOCSRIUTDe3Ltr1te	\N
\.


--
-- Name: exchange_accounts exchange_accounts_pkey; Type: CONSTRAINT; Schema: public; Owner: botapp
--

ALTER TABLE ONLY public.exchange_accounts
    ADD CONSTRAINT exchange_accounts_pkey PRIMARY KEY (id);


--
-- PostgreSQL database dump complete
--


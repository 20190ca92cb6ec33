// The console's languages: English (the text the page and script are written in),
// French and Spanish. Every text node and labelled attribute the page shows is looked
// up here, as it is drawn (a MutationObserver), so the script builds its views in
// English and never calls a translator. A text with values in it matches a pattern:
// {name} stands for any text, itself translated when it is a known label. Records'
// own text is never translated: it sits in elements marked translate="no", or in a
// pattern's value that is no label.
"use strict";

const LANGUAGES = { en: "English", fr: "Français", es: "Español" };
const LANGUAGE_KEY = "customs-console-language";

// [English, French, Spanish]
const MESSAGES = [
  // The page
  ["Customs network console", "Console du réseau douanier", "Consola de la red aduanera"],
  ["Skip to content", "Aller au contenu", "Ir al contenido"],
  ["Sign in with an API token from your node's administrator. It is kept for this browser tab only.", "Connectez-vous avec un jeton d'API fourni par l'administrateur de votre nœud. Il n'est conservé que pour cet onglet.", "Inicie sesión con un token de API del administrador de su nodo. Solo se guarda para esta pestaña."],
  ["API token", "Jeton d'API", "Token de API"],
  ["Sign in", "Se connecter", "Iniciar sesión"],
  ["Main", "Principal", "Principal"],
  ["Language", "Langue", "Idioma"],
  ["Dashboard", "Tableau de bord", "Panel"],
  ["Alerts", "Alertes", "Alertas"],
  ["Publish alert", "Publier une alerte", "Publicar alerta"],
  ["Requests", "Demandes", "Solicitudes"],
  ["Watch lists", "Listes de surveillance", "Listas de vigilancia"],
  ["AEO", "OEA", "OEA"],
  ["Groups", "Groupes", "Grupos"],
  ["Members", "Membres", "Miembros"],
  ["Exchange", "Échanges", "Intercambio"],
  ["Network", "Réseau", "Red"],
  ["fork", "fourche", "bifurcación"],
  ["offline", "hors ligne", "sin conexión"],
  ["live", "en direct", "en directo"],
  ["Sign out", "Se déconnecter", "Cerrar sesión"],
  ["Dashboard filters", "Filtres du tableau de bord", "Filtros del panel"],
  ["From", "De", "De"],
  ["To", "À", "Para"],
  ["Period from", "Période du", "Periodo desde"],
  ["Category", "Catégorie", "Categoría"],
  ["any", "toutes", "todas"],
  ["Member", "Membre", "Miembro"],
  ["Apply", "Appliquer", "Aplicar"],
  ["Alerts per week, by category", "Alertes par semaine et par catégorie", "Alertas por semana y por categoría"],
  ["Categories", "Catégories", "Categorías"],
  ["Routes and places of detection", "Itinéraires et lieux de détection", "Rutas y lugares de detección"],
  ["Lines join origin, transit and destination countries; circles mark places of detection (drawn at their country). Select one for its alerts.", "Les lignes relient les pays d'origine, de transit et de destination ; les cercles marquent les lieux de détection (placés sur leur pays). Choisissez-en un pour voir ses alertes.", "Las líneas unen los países de origen, tránsito y destino; los círculos marcan los lugares de detección (situados en su país). Seleccione uno para ver sus alertas."],
  ["Top routes", "Itinéraires les plus fréquents", "Rutas más frecuentes"],
  ["Top places of detection", "Lieux de détection les plus fréquents", "Lugares de detección más frecuentes"],
  ["Requests for control", "Demandes de contrôle", "Solicitudes de control"],
  ["Results of control", "Résultats des contrôles", "Resultados de los controles"],
  ["Sent", "Envoyées", "Enviadas"],
  ["Open", "Ouvertes", "Abiertas"],
  ["Acknowledged", "Accusées", "Acusadas"],
  ["Answered", "Répondues", "Respondidas"],
  ["Overdue", "En retard", "Vencidas"],
  ["Answered (per addressee)", "Répondues (par destinataire)", "Respondidas (por destinatario)"],
  ["Hits (seizures)", "Résultats positifs (saisies)", "Aciertos (incautaciones)"],
  ["Hit rate", "Taux de réussite", "Tasa de acierto"],
  ["none answered", "aucune réponse", "ninguna respondida"],
  ["No route given in these alerts.", "Aucun itinéraire dans ces alertes.", "Estas alertas no indican ruta."],
  ["No alerts.", "Aucune alerte.", "No hay alertas."],
  ["Alerts from every member", "Alertes de tous les membres", "Alertas de todos los miembros"],
  ["Filters", "Filtres", "Filtros"],
  ["HS code starts with", "Code SH commençant par", "Código SA que empieza por"],
  ["Country on route", "Pays sur l'itinéraire", "País en la ruta"],
  ["Detected from", "Détectées du", "Detectadas desde"],
  ["to", "au", "hasta"],
  ["Show retracted", "Afficher les retirées", "Mostrar retiradas"],
  ["Clear", "Effacer", "Borrar"],
  ["Show all alerts", "Afficher toutes les alertes", "Mostrar todas las alertas"],
  ["Alerts, newest first", "Alertes, les plus récentes d'abord", "Alertas, las más recientes primero"],
  ["Older alerts", "Alertes plus anciennes", "Alertas anteriores"],
  ["No alerts match these filters.", "Aucune alerte ne correspond à ces filtres.", "Ninguna alerta coincide con estos filtros."],
  ["Publish a risk alert", "Publier une alerte de risque", "Publicar una alerta de riesgo"],
  ["Signed with your administration's key and shared with every member. No personal names: describe goods, places and indicators only.", "Signée avec la clé de votre administration et partagée avec tous les membres. Aucun nom de personne : décrivez uniquement les marchandises, les lieux et les indicateurs.", "Firmada con la clave de su administración y compartida con todos los miembros. Sin nombres de personas: describa solo mercancías, lugares e indicadores."],
  ["Case", "Affaire", "Caso"],
  ["Case reference", "Référence de l'affaire", "Referencia del caso"],
  ["Severity", "Gravité", "Gravedad"],
  ["HS code (6 to 10 digits)", "Code SH (6 à 10 chiffres)", "Código SA (6 a 10 dígitos)"],
  ["Description", "Description", "Descripción"],
  ["Quantity", "Quantité", "Cantidad"],
  ["Unit", "Unité", "Unidad"],
  ["Detection", "Détection", "Detección"],
  ["Detected on", "Détectée le", "Detectada el"],
  ["Place (UN/LOCODE)", "Lieu (UN/LOCODE)", "Lugar (UN/LOCODE)"],
  ["Place type", "Type de lieu", "Tipo de lugar"],
  ["Detection method", "Méthode de détection", "Método de detección"],
  ["Concealment", "Dissimulation", "Ocultación"],
  ["Conveyance and route", "Moyen de transport et itinéraire", "Medio de transporte y ruta"],
  ["Transport mode", "Mode de transport", "Modo de transporte"],
  ["Container numbers (ISO 6346, separated by spaces)", "Numéros de conteneur (ISO 6346, séparés par des espaces)", "Números de contenedor (ISO 6346, separados por espacios)"],
  ["Vessel IMO number", "Numéro OMI du navire", "Número OMI del buque"],
  ["Flight", "Vol", "Vuelo"],
  ["Vehicle registration", "Immatriculation du véhicule", "Matrícula del vehículo"],
  ["Origin", "Origine", "Origen"],
  ["Transit countries (separated by spaces)", "Pays de transit (séparés par des espaces)", "Países de tránsito (separados por espacios)"],
  ["Destination", "Destination", "Destino"],
  ["Customs direction", "Régime douanier", "Sentido aduanero"],
  ["Bill of lading", "Connaissement", "Conocimiento de embarque"],
  ["Air waybill (11 digits)", "Lettre de transport aérien (11 chiffres)", "Guía aérea (11 dígitos)"],
  ["Estimated value", "Valeur estimée", "Valor estimado"],
  ["Currency (ISO 4217)", "Devise (ISO 4217)", "Moneda (ISO 4217)"],
  ["Targeting", "Ciblage", "Selección de objetivos"],
  ["Risk indicators (one per line)", "Indicateurs de risque (un par ligne)", "Indicadores de riesgo (uno por línea)"],
  ["Valid until", "Valable jusqu'au", "Válida hasta"],
  ["Photos and documents", "Photos et documents", "Fotos y documentos"],
  ["Add JPEG, PNG or PDF files (10 MiB each, 8 at most)", "Ajouter des fichiers JPEG, PNG ou PDF (10 Mio chacun, 8 au plus)", "Añadir archivos JPEG, PNG o PDF (10 MiB cada uno, 8 como máximo)"],
  ["Location, camera serial numbers and other metadata are removed from photos before they are signed; the image itself is unchanged. Members fetch the files when they open the alert.", "La position, les numéros de série de l'appareil et les autres métadonnées sont retirés des photos avant leur signature ; l'image elle-même est inchangée. Les membres récupèrent les fichiers en ouvrant l'alerte.", "La ubicación, los números de serie de la cámara y otros metadatos se eliminan de las fotos antes de firmarlas; la imagen no cambia. Los miembros obtienen los archivos al abrir la alerta."],
  ["Need to know", "Besoin d'en connaître", "Necesidad de conocer"],
  ["TLP:CLEAR: no limit", "TLP:CLEAR : sans limite", "TLP:CLEAR: sin límite"],
  ["TLP:GREEN: the community", "TLP:GREEN : la communauté", "TLP:GREEN: la comunidad"],
  ["TLP:AMBER: your organisation, need to know", "TLP:AMBER : votre organisation, besoin d'en connaître", "TLP:AMBER: su organización, necesidad de conocer"],
  ["TLP:AMBER+STRICT: your organisation only", "TLP:AMBER+STRICT : votre organisation seulement", "TLP:AMBER+STRICT: solo su organización"],
  ["TLP:RED: named recipients only", "TLP:RED : destinataires nommés seulement", "TLP:RED: solo destinatarios nombrados"],
  ["Source reliability", "Fiabilité de la source", "Fiabilidad de la fuente"],
  ["A: no doubt", "A : aucun doute", "A: sin duda"],
  ["B: mostly reliable", "B : généralement fiable", "B: generalmente fiable"],
  ["C: not reliable", "C : peu fiable", "C: poco fiable"],
  ["X: cannot be judged", "X : impossible à évaluer", "X: no se puede evaluar"],
  ["Information accuracy", "Exactitude de l'information", "Exactitud de la información"],
  ["1: known to be true", "1 : avérée", "1: se sabe cierta"],
  ["2: known to the source", "2 : connue de la source", "2: conocida por la fuente"],
  ["3: corroborated", "3 : corroborée", "3: corroborada"],
  ["4: cannot be judged", "4 : impossible à évaluer", "4: no se puede evaluar"],
  ["Handling codes", "Codes de traitement", "Códigos de tratamiento"],
  ["Crime prevention only", "Prévention de la criminalité uniquement", "Solo prevención de la delincuencia"],
  ["No judicial use without permission", "Aucun usage judiciaire sans autorisation", "Sin uso judicial sin permiso"],
  ["No onward sharing outside the network", "Aucune diffusion hors du réseau", "Sin difusión fuera de la red"],
  ["Who may read it", "Qui peut la lire", "Quién puede leerla"],
  ["Every member (open)", "Tous les membres (ouverte)", "Todos los miembros (abierta)"],
  ["Named members (sealed)", "Membres nommés (scellée)", "Miembros nombrados (sellada)"],
  ["A closed user group (sealed)", "Un groupe fermé d'utilisateurs (scellée)", "Un grupo cerrado de usuarios (sellada)"],
  ["Members (your administration always reads its own)", "Membres (votre administration lit toujours les siennes)", "Miembros (su administración siempre lee las suyas)"],
  ["Group", "Groupe", "Grupo"],
  ["Sign and publish", "Signer et publier", "Firmar y publicar"],
  ["Inbox: addressed to us", "Reçues : adressées à nous", "Recibidas: dirigidas a nosotros"],
  ["Reference", "Référence", "Referencia"],
  ["State", "État", "Estado"],
  ["Arrival", "Arrivée", "Llegada"],
  ["Consignment", "Envoi", "Envío"],
  ["Asked", "Destinataires", "Destinatarios"],
  ["Action", "Action", "Acción"],
  ["Sent by us", "Envoyées par nous", "Enviadas por nosotros"],
  ["Results", "Résultats", "Resultados"],
  ["Effectiveness: requests answered and hits", "Efficacité : demandes répondues et résultats positifs", "Eficacia: solicitudes respondidas y aciertos"],
  ["Member asked", "Membre sollicité", "Miembro solicitado"],
  ["Hits", "Résultats positifs", "Aciertos"],
  ["Report the result of a control", "Rendre compte du résultat d'un contrôle", "Informar del resultado de un control"],
  ["Result", "Résultat", "Resultado"],
  ["Answers (request or alert id)", "Répond à (identifiant de demande ou d'alerte)", "Responde a (id de solicitud o alerta)"],
  ["Outcome", "Issue", "Resultado"],
  ["Controlled on", "Contrôlé le", "Controlado el"],
  ["Found: category", "Trouvé : catégorie", "Hallado: categoría"],
  ["Found: HS code", "Trouvé : code SH", "Hallado: código SA"],
  ["Found: quantity", "Trouvé : quantité", "Hallado: cantidad"],
  ["Our seizure alert (id, if we published one)", "Notre alerte de saisie (identifiant, si nous en avons publié une)", "Nuestra alerta de incautación (id, si la publicamos)"],
  ["Why not controlled", "Pourquoi non contrôlé", "Por qué no se controló"],
  ["Notes", "Notes", "Notas"],
  ["Sign and send the result", "Signer et envoyer le résultat", "Firmar y enviar el resultado"],
  ["Ask members to check a consignment", "Demander aux membres de contrôler un envoi", "Pedir a los miembros que controlen un envío"],
  ["Request for control", "Demande de contrôle", "Solicitud de control"],
  ["Addressed to", "Adressée à", "Dirigida a"],
  ["Requested action", "Action demandée", "Acción solicitada"],
  ["Suspected category", "Catégorie soupçonnée", "Categoría sospechada"],
  ["Containers (separated by spaces)", "Conteneurs (séparés par des espaces)", "Contenedores (separados por espacios)"],
  ["Vessel IMO", "OMI du navire", "OMI del buque"],
  ["Vehicle", "Véhicule", "Vehículo"],
  ["Arrives at (UN/LOCODE)", "Arrive à (UN/LOCODE)", "Llega a (UN/LOCODE)"],
  ["Expected arrival (UTC)", "Arrivée prévue (UTC)", "Llegada prevista (UTC)"],
  ["Reason", "Motif", "Motivo"],
  ["Sign and send, sealed to the addressees", "Signer et envoyer, scellée pour les destinataires", "Firmar y enviar, sellada para los destinatarios"],
  ["Every record this node stores or opens is matched against these rules; a new or changed list also hunts through everything already stored.", "Chaque enregistrement que ce nœud stocke ou ouvre est comparé à ces règles ; une liste nouvelle ou modifiée parcourt aussi tout ce qui est déjà stocké.", "Cada registro que este nodo guarda o abre se compara con estas reglas; una lista nueva o modificada también busca en todo lo ya guardado."],
  ["List", "Liste", "Lista"],
  ["Rules", "Règles", "Reglas"],
  ["Matches", "Correspondances", "Coincidencias"],
  ["New watch list", "Nouvelle liste de surveillance", "Nueva lista de vigilancia"],
  ["Watch list", "Liste de surveillance", "Lista de vigilancia"],
  ["Name", "Nom", "Nombre"],
  ["Field", "Champ", "Campo"],
  ["container", "conteneur", "contenedor"],
  ["vessel IMO", "OMI du navire", "OMI del buque"],
  ["vehicle", "véhicule", "vehículo"],
  ["operator id", "identifiant d'opérateur", "id de operador"],
  ["HS code prefix", "début de code SH", "prefijo de código SA"],
  ["country on route", "pays sur l'itinéraire", "país en la ruta"],
  ["category", "catégorie", "categoría"],
  ["Values (separated by spaces; each is a rule)", "Valeurs (séparées par des espaces ; chacune est une règle)", "Valores (separados por espacios; cada uno es una regla)"],
  ["Save and hunt", "Enregistrer et rechercher", "Guardar y buscar"],
  ["Webhooks", "Webhooks", "Webhooks"],
  ["Target", "Cible", "Destino"],
  ["Events", "Événements", "Eventos"],
  ["Deliveries", "Livraisons", "Entregas"],
  ["New webhook", "Nouveau webhook", "Nuevo webhook"],
  ["Target URL", "URL cible", "URL de destino"],
  ["Secret (16 characters or more)", "Secret (16 caractères ou plus)", "Secreto (16 caracteres o más)"],
  ["Watch-list matches", "Correspondances des listes", "Coincidencias de listas"],
  ["Requests to us", "Demandes qui nous sont adressées", "Solicitudes dirigidas a nosotros"],
  ["Results for our records", "Résultats sur nos enregistrements", "Resultados sobre nuestros registros"],
  ["Register", "Enregistrer", "Registrar"],
  ["Authorised economic operators", "Opérateurs économiques agréés", "Operadores económicos autorizados"],
  ["Look up an operator", "Rechercher un opérateur", "Buscar un operador"],
  ["Operator id (EORI/TCUI)", "Identifiant d'opérateur (EORI/TCUI)", "Id de operador (EORI/TCUI)"],
  ["On date (empty: today)", "À la date (vide : aujourd'hui)", "En la fecha (vacío: hoy)"],
  ["Look up", "Rechercher", "Buscar"],
  ["Look up by operator id or by a partner identifier written", "Recherche par identifiant d'opérateur ou par un identifiant partenaire écrit", "Busque por id de operador o por un identificador de socio escrito"],
  ["(e.g.", "(par ex.", "(p. ej."],
  ["). MRA partners' daily file:", "). Fichier quotidien des partenaires ARM :", "). Fichero diario de los socios de ARM:"],
  ["CSV of this administration's operators", "CSV des opérateurs de cette administration", "CSV de los operadores de esta administración"],
  ["(only those who consented to the exchange).", "(seulement ceux qui ont consenti à l'échange).", "(solo los que consintieron el intercambio)."],
  ["Publish a status change", "Publier un changement de statut", "Publicar un cambio de estado"],
  ["AEO record", "Fiche OEA", "Registro OEA"],
  ["Operator id", "Identifiant d'opérateur", "Id de operador"],
  ["Operator name", "Nom de l'opérateur", "Nombre del operador"],
  ["Country", "Pays", "País"],
  ["Programme", "Programme", "Programa"],
  ["Status", "Statut", "Estado"],
  ["Effective from", "En vigueur depuis", "Vigente desde"],
  ["MRA partners (country codes, separated by spaces)", "Partenaires ARM (codes pays, séparés par des espaces)", "Socios de ARM (códigos de país, separados por espacios)"],
  ["Reason (required for a suspension or revocation)", "Motif (requis pour une suspension ou un retrait)", "Motivo (obligatorio para una suspensión o revocación)"],
  ["Address", "Adresse", "Dirección"],
  ["First authorised on", "Agréé pour la première fois le", "Autorizado por primera vez el"],
  ["Partner identifiers (SCHEME:VALUE, separated by spaces)", "Identifiants partenaires (SCHÉMA:VALEUR, séparés par des espaces)", "Identificadores de socios (ESQUEMA:VALOR, separados por espacios)"],
  ["The operator consents to the exchange with MRA partners", "L'opérateur consent à l'échange avec les partenaires ARM", "El operador consiente el intercambio con los socios de ARM"],
  ["Closed user groups", "Groupes fermés d'utilisateurs", "Grupos cerrados de usuarios"],
  ["Records addressed to a group are encrypted to its members; only they know the group exists. Changing its members gives it a new key: a removed member reads nothing addressed to it afterwards.", "Les enregistrements adressés à un groupe sont chiffrés pour ses membres ; eux seuls savent que le groupe existe. Changer ses membres lui donne une nouvelle clé : un membre retiré ne lit plus rien de ce qui lui est adressé ensuite.", "Los registros dirigidos a un grupo se cifran para sus miembros; solo ellos saben que el grupo existe. Cambiar sus miembros le da una clave nueva: un miembro retirado no lee nada de lo que se le dirija después."],
  ["Purpose", "Objet", "Finalidad"],
  ["Owner", "Propriétaire", "Propietario"],
  ["Until", "Jusqu'au", "Hasta"],
  ["Change members", "Modifier les membres", "Cambiar miembros"],
  ["Create a group", "Créer un groupe", "Crear un grupo"],
  ["Members (your administration is added)", "Membres (votre administration est ajoutée)", "Miembros (se añade su administración)"],
  ["Ends on", "Se termine le", "Termina el"],
  ["Create and send its key to the members", "Créer et envoyer sa clé aux membres", "Crear y enviar su clave a los miembros"],
  ["Pending proposals", "Propositions en attente", "Propuestas pendientes"],
  ["Proposal", "Proposition", "Propuesta"],
  ["Proposed by", "Proposée par", "Propuesta por"],
  ["When", "Quand", "Cuándo"],
  ["Approved by", "Approuvée par", "Aprobada por"],
  ["Approvals", "Approbations", "Aprobaciones"],
  ["Administrations and their node keys", "Administrations et clés de leurs nœuds", "Administraciones y claves de sus nodos"],
  ["Since", "Depuis", "Desde"],
  ["Node keys", "Clés de nœud", "Claves de nodo"],
  ["Decided proposals", "Propositions tranchées", "Propuestas decididas"],
  ["Exchange with other systems", "Échanges avec d'autres systèmes", "Intercambio con otros sistemas"],
  ["Only records that may leave the network are exported: never one addressed to named members or a group, marked", "Seuls les enregistrements qui peuvent quitter le réseau sont exportés : jamais un enregistrement adressé à des membres nommés ou à un groupe, marqué", "Solo se exportan los registros que pueden salir de la red: nunca uno dirigido a miembros nombrados o a un grupo, marcado"],
  ["no onward sharing", "aucune diffusion", "sin difusión"],
  ["or TLP:RED, nor an AEO record without the operator's consent.", "ou TLP:RED, ni une fiche OEA sans le consentement de l'opérateur.", "o TLP:RED, ni un registro OEA sin el consentimiento del operador."],
  ["Export", "Exporter", "Exportar"],
  ["Download a STIX 2.1 bundle", "Télécharger un lot STIX 2.1", "Descargar un paquete STIX 2.1"],
  ["alerts, requests, results and AEO records, for OpenCTI, MISP or a national risk engine", "alertes, demandes, résultats et fiches OEA, pour OpenCTI, MISP ou un moteur de risque national", "alertas, solicitudes, resultados y registros OEA, para OpenCTI, MISP o un motor de riesgo nacional"],
  ["CEN reporting file", "Fichier de déclaration CEN", "Fichero de declaración CEN"],
  ["Year", "Année", "Año"],
  ["Commodity area", "Domaine de marchandises", "Ámbito de mercancías"],
  ["drugs and precursors", "stupéfiants et précurseurs", "drogas y precursores"],
  ["tobacco, alcohol, revenue fraud", "tabac, alcool, fraude fiscale", "tabaco, alcohol, fraude fiscal"],
  ["wildlife and waste", "faune et flore, déchets", "fauna y flora, residuos"],
  ["counterfeits (IPR)", "contrefaçons (DPI)", "falsificaciones (DPI)"],
  ["weapons and explosives", "armes et explosifs", "armas y explosivos"],
  ["Download the CEN reporting file (CSV)", "Télécharger le fichier de déclaration CEN (CSV)", "Descargar el fichero de declaración CEN (CSV)"],
  ["TAXII 2.1 server", "Serveur TAXII 2.1", "Servidor TAXII 2.1"],
  ["(HTTP Basic: any user name, a reader token as the password)", "(HTTP Basic : n'importe quel nom d'utilisateur, un jeton de lecteur comme mot de passe)", "(HTTP Basic: cualquier nombre de usuario, un token de lector como contraseña)"],
  ["MISP feed", "Flux MISP", "Fuente MISP"],
  ["(feed type \"MISP Feed\", header", "(type de flux « MISP Feed », en-tête", "(tipo de fuente «MISP Feed», cabecera"],
  ["Draft alerts from STIX indicators", "Projets d'alerte issus d'indicateurs STIX", "Borradores de alerta a partir de indicadores STIX"],
  ["Import STIX indicators", "Importer des indicateurs STIX", "Importar indicadores STIX"],
  ["STIX 2.1 bundle (JSON) from a national system", "Lot STIX 2.1 (JSON) d'un système national", "Paquete STIX 2.1 (JSON) de un sistema nacional"],
  ["Import as drafts", "Importer comme projets", "Importar como borradores"],
  ["A draft is kept on this node only and signs nothing: review it, complete what is missing and publish it as an alert.", "Un projet n'est conservé que sur ce nœud et ne signe rien : relisez-le, complétez ce qui manque et publiez-le comme alerte.", "Un borrador solo se guarda en este nodo y no firma nada: revíselo, complete lo que falta y publíquelo como alerta."],
  ["Draft", "Projet", "Borrador"],
  ["Missing", "Manquant", "Falta"],
  ["No drafts.", "Aucun projet.", "No hay borradores."],
  ["nothing", "rien", "nada"],
  ["Review and publish", "Relire et publier", "Revisar y publicar"],
  ["Delete", "Supprimer", "Eliminar"],
  ["Member nodes", "Nœuds des membres", "Nodos de los miembros"],
  ["Connected", "Connecté", "Conectado"],
  ["Last sync", "Dernière synchronisation", "Última sincronización"],
  ["Lag (entries)", "Retard (entrées)", "Retraso (entradas)"],
  ["In sync", "Synchronisé", "Sincronizado"],
  ["Received", "Reçues", "Recibidas"],
  ["Rejected", "Rejetées", "Rechazadas"],
  ["Refuses ours", "Refuse les nôtres", "Rechaza las nuestras"],
  ["Clock offset", "Décalage d'horloge", "Desfase del reloj"],
  ["choose…", "choisir…", "elegir…"],
  // Made by the script
  ["Your token is no longer valid on this node.", "Votre jeton n'est plus valide sur ce nœud.", "Su token ya no es válido en este nodo."],
  ["Enter your API token.", "Saisissez votre jeton d'API.", "Introduzca su token de API."],
  ["This token is not valid on this node.", "Ce jeton n'est pas valide sur ce nœud.", "Este token no es válido en este nodo."],
  ["Cannot sign in: {reason}", "Connexion impossible : {reason}", "No se puede iniciar sesión: {reason}"],
  ["signed in as {role}", "connecté en tant que {role}", "sesión iniciada como {role}"],
  ["reader", "lecteur", "lector"],
  ["publisher", "éditeur", "editor"],
  ["admin", "administrateur", "administrador"],
  ["This node cannot publish: {reason}", "Ce nœud ne peut pas publier : {reason}", "Este nodo no puede publicar: {reason}"],
  ["in step", "synchrone", "sincronizado"],
  ["{seconds} s behind ours", "{seconds} s de retard sur la nôtre", "{seconds} s por detrás de la nuestra"],
  ["{seconds} s ahead of ours", "{seconds} s d'avance sur la nôtre", "{seconds} s por delante de la nuestra"],
  ["{date} at {place} · {route} · {reference}", "{date} à {place} · {route} · {reference}", "{date} en {place} · {route} · {reference}"],
  ["route unknown", "itinéraire inconnu", "ruta desconocida"],
  ["retracted", "retirée", "retirada"],
  ["every member", "tous les membres", "todos los miembros"],
  ["sealed: {to}", "scellée : {to}", "sellada: {to}"],
  ["Alerts detected at {place}", "Alertes détectées à {place}", "Alertas detectadas en {place}"],
  ["Alerts on the route {from} → {to}", "Alertes sur l'itinéraire {from} → {to}", "Alertas en la ruta {from} → {to}"],
  ["Restricted record", "Enregistrement restreint", "Registro restringido"],
  ["Close", "Fermer", "Cerrar"],
  ["Author", "Auteur", "Autor"],
  ["Signature", "Signature", "Firma"],
  ["valid (checked just now)", "valide (vérifiée à l'instant)", "válida (comprobada ahora)"],
  ["not a member of this network", "pas membre de ce réseau", "no es miembro de esta red"],
  ["Signed at", "Signée le", "Firmada el"],
  ["Log position", "Position dans le journal", "Posición en el registro"],
  ["Handling", "Traitement", "Tratamiento"],
  ["Source and accuracy", "Source et exactitude", "Fuente y exactitud"],
  ["Warning", "Avertissement", "Advertencia"],
  ["this author's key signed another entry with the same seq (fork)", "la clé de cet auteur a signé une autre entrée avec le même numéro (fourche)", "la clave de este autor firmó otra entrada con el mismo número (bifurcación)"],
  ["Retracted by", "Retirée par", "Retirada por"],
  ["Entry id", "Identifiant de l'entrée", "Id de la entrada"],
  ["Author key", "Clé de l'auteur", "Clave del autor"],
  ["Attachments", "Pièces jointes", "Adjuntos"],
  ["A new request for control is addressed to us: see Requests.", "Une nouvelle demande de contrôle nous est adressée : voir Demandes.", "Se nos dirige una nueva solicitud de control: vea Solicitudes."],
  ["A record matched a watch list: see Watch lists.", "Un enregistrement correspond à une liste de surveillance : voir Listes de surveillance.", "Un registro coincide con una lista de vigilancia: vea Listas de vigilancia."],
  ["Some required fields are empty.", "Des champs obligatoires sont vides.", "Hay campos obligatorios vacíos."],
  ["Some fields need correcting.", "Des champs sont à corriger.", "Hay campos que corregir."],
  ["required", "obligatoire", "obligatorio"],
  ["No answer from the node. Submitting again is safe: the record will not be published twice.", "Pas de réponse du nœud. Vous pouvez soumettre à nouveau : l'enregistrement ne sera pas publié deux fois.", "Sin respuesta del nodo. Puede volver a enviar: el registro no se publicará dos veces."],
  ["The node refused the record: see the marked field.", "Le nœud a refusé l'enregistrement : voir le champ signalé.", "El nodo rechazó el registro: vea el campo marcado."],
  ["This node cannot sign yet: it is waiting for a member to confirm its own log. Try again shortly.", "Ce nœud ne peut pas encore signer : il attend qu'un membre confirme son propre journal. Réessayez bientôt.", "Este nodo aún no puede firmar: espera que un miembro confirme su propio registro. Inténtelo de nuevo en breve."],
  ["The node refused the record: {reason}", "Le nœud a refusé l'enregistrement : {reason}", "El nodo rechazó el registro: {reason}"],
  ["Published alert {id} (seq {seq}). Every member will receive it.", "Alerte {id} publiée (n° {seq}). Tous les membres la recevront.", "Alerta {id} publicada (n.º {seq}). Todos los miembros la recibirán."],
  ["Published alert {id} (seq {seq}). Every member will receive it; only its recipients can read it.", "Alerte {id} publiée (n° {seq}). Tous les membres la recevront ; seuls ses destinataires peuvent la lire.", "Alerta {id} publicada (n.º {seq}). Todos los miembros la recibirán; solo sus destinatarios pueden leerla."],
  ["Published AEO record {id} (seq {seq}).", "Fiche OEA {id} publiée (n° {seq}).", "Registro OEA {id} publicado (n.º {seq})."],
  ["Enter an operator id.", "Saisissez un identifiant d'opérateur.", "Introduzca un id de operador."],
  ["Issuer", "Émetteur", "Emisor"],
  ["Effective", "En vigueur", "Vigente"],
  ["MRA partners", "Partenaires ARM", "Socios de ARM"],
  ["Identifiers", "Identifiants", "Identificadores"],
  ["{minutes} min ago", "il y a {minutes} min", "hace {minutes} min"],
  ["not connected", "non connecté", "no conectado"],
  ["connected", "connecté", "conectado"],
  ["No members admitted yet.", "Aucun membre admis pour l'instant.", "Aún no hay miembros admitidos."],
  ["Approval signed and sent to the members.", "Approbation signée et envoyée aux membres.", "Aprobación firmada y enviada a los miembros."],
  ["Cannot approve: {reason}", "Approbation impossible : {reason}", "No se puede aprobar: {reason}"],
  ["approved by this member", "approuvée par ce membre", "aprobada por este miembro"],
  ["an admin token approves", "un jeton administrateur approuve", "un token de administrador aprueba"],
  ["No proposal is pending.", "Aucune proposition en attente.", "No hay propuestas pendientes."],
  ["None yet.", "Aucune pour l'instant.", "Ninguna por ahora."],
  ["Caption: what it shows", "Légende : ce qu'elle montre", "Leyenda: lo que muestra"],
  ["The group has a new key, sent sealed to its members.", "Le groupe a une nouvelle clé, envoyée scellée à ses membres.", "El grupo tiene una clave nueva, enviada sellada a sus miembros."],
  ["The node refused: {reason}", "Le nœud a refusé : {reason}", "El nodo rechazó: {reason}"],
  ["Add", "Ajouter", "Añadir"],
  ["This node is in no group.", "Ce nœud n'appartient à aucun groupe.", "Este nodo no pertenece a ningún grupo."],
  ["Restricted, TLP:RED and no-onward-sharing records", "Enregistrements restreints, TLP:RED et sans diffusion ultérieure", "Registros restringidos, TLP:RED y sin difusión ulterior"],
  ["Withhold (name the record only)", "Retenir (nommer l'enregistrement seulement)", "Retener (solo nombrar el registro)"],
  ["Deliver (a system of this administration)", "Livrer (un système de cette administration)", "Entregar (un sistema de esta administración)"],
  ["Markings", "Marquages", "Marcados"],
  ["every record", "tous les enregistrements", "todos los registros"],
  ["withholds restricted records", "retient les enregistrements restreints", "retiene los registros restringidos"],
  ["Remove", "Retirer", "Quitar"],
  ["Webhook removed, with its queued deliveries.", "Webhook retiré, avec ses livraisons en attente.", "Webhook eliminado, con sus entregas pendientes."],
  ["Removed {name} and its matches.", "{name} retirée, avec ses correspondances.", "{name} eliminada, con sus coincidencias."],
  ["Refused claims on groups", "Revendications de groupes refusées", "Reivindicaciones de grupos rechazadas"],
  ["Another administration signed a first definition of a group it did not create. The node refused it; tell the group's owner.", "Une autre administration a signé une première définition d'un groupe qu'elle n'a pas créé. Le nœud l'a refusée ; prévenez le propriétaire du groupe.", "Otra administración firmó una primera definición de un grupo que no creó. El nodo la rechazó; avise al propietario del grupo."],
  ["{date} (contested: nothing may be addressed to it)", "{date} (contesté : rien ne peut lui être adressé)", "{date} (impugnado: no se le puede dirigir nada)"],
  ["Name, purpose and end date are required.", "Le nom, l'objet et la date de fin sont obligatoires.", "El nombre, la finalidad y la fecha de fin son obligatorios."],
  ["The node refused the group: {reason}", "Le nœud a refusé le groupe : {reason}", "El nodo rechazó el grupo: {reason}"],
  ["Acknowledged: the requester sees it.", "Accusé : le demandeur le voit.", "Acusado: el solicitante lo ve."],
  ["Acknowledge", "Accuser réception", "Acusar recibo"],
  ["Report result", "Rendre compte", "Informar del resultado"],
  ["No request is addressed to us.", "Aucune demande ne nous est adressée.", "No se nos dirige ninguna solicitud."],
  ["none yet", "aucun pour l'instant", "ninguno por ahora"],
  ["We have sent no request.", "Nous n'avons envoyé aucune demande.", "No hemos enviado ninguna solicitud."],
  ["not given", "non indiqué", "no indicado"],
  ["No request yet.", "Aucune demande pour l'instant.", "Aún no hay solicitudes."],
  ["Choose at least one member to address.", "Choisissez au moins un membre destinataire.", "Elija al menos un miembro destinatario."],
  ["Record", "Enregistrement", "Registro"],
  ["Found", "Trouvé", "Hallado"],
  ["by the hunt through stored records", "par la recherche dans les enregistrements stockés", "por la búsqueda en los registros guardados"],
  ["Event", "Événement", "Evento"],
  ["Attempts", "Tentatives", "Intentos"],
  ["Last error", "Dernière erreur", "Último error"],
  ["No watch list yet.", "Aucune liste de surveillance pour l'instant.", "Aún no hay listas de vigilancia."],
  ["delivery log", "journal des livraisons", "registro de entregas"],
  ["No webhook yet.", "Aucun webhook pour l'instant.", "Aún no hay webhooks."],
  ["A name and at least one value are required.", "Un nom et au moins une valeur sont obligatoires.", "Se necesitan un nombre y al menos un valor."],
  ["Choose a STIX bundle file first.", "Choisissez d'abord un fichier de lot STIX.", "Elija primero un fichero de paquete STIX."],
  ["Imported {n} draft(s).", "{n} projet(s) importé(s).", "{n} borrador(es) importado(s)."],
  ["Deleted draft {id}.", "Projet {id} supprimé.", "Borrador {id} eliminado."],
  ["{n} alerts from {from} to {to}, at most {max} in one week.", "{n} alertes du {from} au {to}, au plus {max} en une semaine.", "{n} alertas del {from} al {to}, como máximo {max} en una semana."],
  ["week of {date}: {n} alert(s)", "semaine du {date} : {n} alerte(s)", "semana del {date}: {n} alerta(s)"],
  ["week of {date}: {n} alert(s) ({counts})", "semaine du {date} : {n} alerte(s) ({counts})", "semana del {date}: {n} alerta(s) ({counts})"],
  ["HS", "SH", "SA"],
  ["{route}: {n} alert(s)", "{route} : {n} alerte(s)", "{route}: {n} alerta(s)"],
  ["This node: {code} ({name}) on network {network}.", "Ce nœud : {code} ({name}) sur le réseau {network}.", "Este nodo: {code} ({name}) en la red {network}."],
  ["{n} entries from {a} authors: {x} alerts,", "{n} entrées de {a} auteurs : {x} alertes,", "{n} entradas de {a} autores: {x} alertas,"],
  ["{n} AEO records, {r} retractions.", "{n} fiches OEA, {r} retraits.", "{n} registros OEA, {r} retiradas."],
  ["Clock: {clock}.", "Horloge : {clock}.", "Reloj: {clock}."],
  ["{seconds} s behind the members'", "{seconds} s de retard sur celle des membres", "{seconds} s por detrás de la de los miembros"],
  ["{seconds} s ahead of the members'", "{seconds} s d'avance sur celle des membres", "{seconds} s por delante de la de los miembros"],
  ["{n} s ago", "il y a {n} s", "hace {n} s"],
  ["yes", "oui", "sí"],
  ["no", "non", "no"],
  ["none", "aucun", "ninguno"],
  ["(this node)", "(ce nœud)", "(este nodo)"],
  ["Network {name} has no charter: its members are static lists, changed by each administration and a restart.", "Le réseau {name} n'a pas de charte : ses membres sont des listes statiques, modifiées par chaque administration et un redémarrage.", "La red {name} no tiene carta: sus miembros son listas estáticas, que cada administración cambia con un reinicio."],
  ["Network {name}: {n} members; a proposal is decided by {k} approvals ({share} of the members).", "Réseau {name} : {n} membres ; une proposition est tranchée par {k} approbations ({share} des membres).", "Red {name}: {n} miembros; una propuesta se decide con {k} aprobaciones ({share} de los miembros)."],
  ["more than half", "plus de la moitié", "más de la mitad"],
  ["two thirds", "les deux tiers", "dos tercios"],
  ["aeo c", "OEA-C", "OEA-C"], ["aeo s", "OEA-S", "OEA-S"], ["aeo f", "OEA-F", "OEA-F"],
  ["Member {code} refuses {n} of this node's entries ({reason}, latest seq {seq}): they do not reach it.", "Le membre {code} refuse {n} entrées de ce nœud ({reason}, dernier n° {seq}) : elles ne lui parviennent pas.", "El miembro {code} rechaza {n} entradas de este nodo ({reason}, último n.º {seq}): no le llegan."],
  ["Entry {seq} of {author} is addressed to other members: this node cannot read it.", "L'entrée {seq} de {author} est adressée à d'autres membres : ce nœud ne peut pas la lire.", "La entrada {seq} de {author} está dirigida a otros miembros: este nodo no puede leerla."],
  ["request for control {reference} to {to}", "demande de contrôle {reference} à {to}", "solicitud de control {reference} a {to}"],
  ["From {code}", "De {code}", "De {code}"],
  ["No administration has published a status for {operator} {when}.", "Aucune administration n'a publié de statut pour {operator} {when}.", "Ninguna administración ha publicado un estado para {operator} {when}."],
  ["{operator}: status {when} at each issuer", "{operator} : statut {when} chez chaque émetteur", "{operator}: estado {when} en cada emisor"],
  ["today", "aujourd'hui", "hoy"],
  ["Warning: {n} fork proof(s)", "Avertissement : {n} preuve(s) de fourche", "Advertencia: {n} prueba(s) de bifurcación"],
  ["Admit {code} ({name})", "Admettre {code} ({name})", "Admitir {code} ({name})"],
  ["Remove {code}: {reason}", "Retirer {code} : {reason}", "Retirar {code}: {reason}"],
  ["Replace {code}'s administration key: {reason}", "Remplacer la clé d'administration de {code} : {reason}", "Sustituir la clave de administración de {code}: {reason}"],
  ["{n} proposals wait for this member's approval", "{n} propositions attendent l'approbation de ce membre", "{n} propuestas esperan la aprobación de este miembro"],
  ["Approve: {proposal}", "Approuver : {proposal}", "Aprobar: {proposal}"],
  ["signs up to seq {seq}: {reason}", "signe jusqu'au n° {seq} : {reason}", "firma hasta el n.º {seq}: {reason}"],
  ["closed: {reason}", "fermée : {reason}", "cerrada: {reason}"],
  [", approved by {codes}", ", approuvée par {codes}", ", aprobada por {codes}"],
  [", {n} bytes of metadata removed", ", {n} octets de métadonnées retirés", ", {n} bytes de metadatos eliminados"],
  ["Caption of {name}", "Légende de {name}", "Leyenda de {name}"],
  ["Remove {name}", "Retirer {name}", "Quitar {name}"],
  ["Open {name}", "Ouvrir {name}", "Abrir {name}"],
  ["{name}: no answer from the node", "{name} : pas de réponse du nœud", "{name}: sin respuesta del nodo"],
  ["Member to add to {group}", "Membre à ajouter à {group}", "Miembro que añadir a {group}"],
  ["changed by {code}", "modifié par {code}", "cambiado por {code}"],
  ["Created group {name}; its key went sealed to {codes}.", "Groupe {name} créé ; sa clé a été envoyée scellée à {codes}.", "Grupo {name} creado; su clave se envió sellada a {codes}."],
  ["Sent request {id}; only {codes} can read it.", "Demande {id} envoyée ; seuls {codes} peuvent la lire.", "Solicitud {id} enviada; solo {codes} pueden leerla."],
  ["Result {id} sent; the requester sees it on its request.", "Résultat {id} envoyé ; le demandeur le voit sur sa demande.", "Resultado {id} enviado; el solicitante lo ve en su solicitud."],
  ["Matches of {list}", "Correspondances de {list}", "Coincidencias de {list}"],
  ["Deliveries to {url}, newest first", "Livraisons vers {url}, les plus récentes d'abord", "Entregas a {url}, las más recientes primero"],
  ["Loading attachments…", "Chargement des pièces jointes…", "Cargando adjuntos…"],
  ["Imported {n} draft(s); skipped {skipped}.", "{n} projet(s) importé(s) ; ignorés : {skipped}.", "{n} borrador(es) importado(s); omitidos: {skipped}."],
  ["The node refused the bundle: {reason}", "Le nœud a refusé le lot : {reason}", "El nodo rechazó el paquete: {reason}"],
  ["The bundle could not be exported: {reason}", "Le lot n'a pas pu être exporté : {reason}", "No se pudo exportar el paquete: {reason}"],
  ["The reporting file could not be exported: {reason}", "Le fichier de déclaration n'a pas pu être exporté : {reason}", "No se pudo exportar el fichero de declaración: {reason}"],
  ["The draft could not be deleted: {reason}", "Le projet n'a pas pu être supprimé : {reason}", "No se pudo eliminar el borrador: {reason}"],
  ["The snapshot could not be fetched: {reason}", "Le fichier n'a pas pu être obtenu : {reason}", "No se pudo obtener el fichero: {reason}"],
  ["{name} is not JSON.", "{name} n'est pas du JSON.", "{name} no es JSON."],
  ["Draft {id}: complete {fields}, then publish.", "Projet {id} : complétez {fields}, puis publiez.", "Borrador {id}: complete {fields} y publique."],
  ["Draft {id}: review, then publish.", "Projet {id} : relisez, puis publiez.", "Borrador {id}: revise y publique."],
  // Record fields (the detail view)
  ["HS code", "Code SH", "Código SA"], ["Location", "Lieu", "Lugar"], ["Conveyance", "Moyen de transport", "Medio de transporte"],
  ["Route", "Itinéraire", "Ruta"], ["Indicators", "Indicateurs", "Indicadores"], ["Direction", "Régime", "Sentido"],
  ["Amount", "Montant", "Importe"], ["Mode", "Mode", "Modo"], ["Containers", "Conteneurs", "Contenedores"],
  ["Transit", "Transit", "Tránsito"], ["Air waybill", "Lettre de transport aérien", "Guía aérea"], ["Voyage", "Voyage", "Viaje"],
  ["Currency", "Devise", "Moneda"], ["Authorised on", "Agréé le", "Autorizado el"], ["Scheme", "Schéma", "Esquema"],
  ["Value", "Valeur", "Valor"], ["Exchange consent", "Consentement à l'échange", "Consentimiento al intercambio"],
  ["ETA", "Arrivée prévue", "Llegada prevista"], ["Related", "Liées", "Relacionadas"], ["Subject", "Objet", "Objeto"],
  ["Seizure alert", "Alerte de saisie", "Alerta de incautación"], ["Reason not controlled", "Motif de non-contrôle", "Motivo de no control"],
  ["Request", "Demande", "Solicitud"], ["Note", "Note", "Nota"], ["Risk alert", "Alerte de risque", "Alerta de riesgo"],
  ["Retraction", "Retrait", "Retirada"], ["Governance", "Gouvernance", "Gobernanza"], ["Acknowledgement", "Accusé de réception", "Acuse de recibo"],
  ["result: {outcome}", "résultat : {outcome}", "resultado: {outcome}"],
  ["Loading…", "Chargement…", "Cargando…"],
  // Code lists
  ["drugs", "stupéfiants", "drogas"], ["tobacco", "tabac", "tabaco"], ["alcohol", "alcool", "alcohol"],
  ["weapons", "armes", "armas"], ["explosives", "explosifs", "explosivos"], ["precursors", "précurseurs", "precursores"],
  ["wildlife", "faune et flore (CITES)", "fauna y flora (CITES)"], ["cultural goods", "biens culturels", "bienes culturales"],
  ["counterfeits", "contrefaçons", "falsificaciones"], ["currency", "espèces", "efectivo"], ["waste", "déchets", "residuos"],
  ["revenue fraud", "fraude fiscale", "fraude fiscal"], ["other", "autre", "otro"],
  ["low", "faible", "baja"], ["medium", "moyenne", "media"], ["high", "élevée", "alta"], ["critical", "critique", "crítica"],
  ["seaport", "port maritime", "puerto marítimo"], ["airport", "aéroport", "aeropuerto"], ["land border", "frontière terrestre", "frontera terrestre"],
  ["rail terminal", "terminal ferroviaire", "terminal ferroviaria"], ["postal facility", "centre postal", "centro postal"],
  ["inland office", "bureau intérieur", "aduana interior"], ["free zone", "zone franche", "zona franca"],
  ["xray", "rayons X", "rayos X"], ["canine", "chien détecteur", "can detector"], ["physical inspection", "inspection physique", "inspección física"],
  ["documentary check", "contrôle documentaire", "control documental"], ["risk profiling", "profilage de risque", "perfil de riesgo"],
  ["intelligence", "renseignement", "inteligencia"], ["random check", "contrôle aléatoire", "control aleatorio"],
  ["in cargo", "dans la cargaison", "en la carga"], ["false compartment", "double fond", "doble fondo"],
  ["container structure", "structure du conteneur", "estructura del contenedor"], ["vehicle structure", "structure du véhicule", "estructura del vehículo"],
  ["luggage", "bagages", "equipaje"], ["on body", "sur le corps", "en el cuerpo"], ["in body", "dans le corps", "dentro del cuerpo"],
  ["postal item", "envoi postal", "envío postal"], ["misdeclared", "fausse déclaration", "declaración falsa"],
  ["sea", "mer", "marítimo"], ["air", "air", "aéreo"], ["road", "route", "carretera"], ["rail", "rail", "ferrocarril"],
  ["inland waterway", "voie navigable", "vía navegable"], ["postal", "postal", "postal"], ["courier", "messagerie", "mensajería"],
  ["pedestrian", "piéton", "peatón"],
  ["import", "importation", "importación"], ["export", "exportation", "exportación"], ["transit", "transit", "tránsito"],
  ["granted", "accordé", "concedido"], ["suspended", "suspendu", "suspendido"], ["revoked", "retiré", "revocado"], ["reinstated", "rétabli", "restablecido"],
  ["sighting report", "signalement", "informe de avistamiento"], ["specific check", "contrôle spécifique", "control específico"],
  ["operational analysis", "analyse opérationnelle", "análisis operativo"],
  ["seized", "saisi", "incautado"], ["controlled nothing found", "contrôlé, rien trouvé", "controlado, nada hallado"],
  ["not controlled", "non contrôlé", "no controlado"], ["not arrived", "non arrivé", "no llegó"],
  ["false positive", "faux positif", "falso positivo"], ["superseded", "remplacée", "sustituida"], ["legal hold", "gel juridique", "retención legal"],
  ["data protection", "protection des données", "protección de datos"], ["error", "erreur", "error"],
  ["open", "ouverte", "abierta"], ["acknowledged", "accusée", "acusada"], ["answered", "répondue", "respondida"], ["overdue", "en retard", "vencida"],
  ["member", "membre", "miembro"], ["former member", "ancien membre", "antiguo miembro"], ["unknown", "inconnu", "desconocido"],
];

// The chosen language: kept in this browser, else the browser's first that we speak.
function chooseLanguage() {
  const saved = localStorage.getItem(LANGUAGE_KEY);
  if (saved && LANGUAGES[saved]) return saved;
  for (const wanted of navigator.languages || [navigator.language || "en"]) {
    const code = String(wanted).slice(0, 2).toLowerCase();
    if (LANGUAGES[code]) return code;
  }
  return "en";
}

const LANGUAGE = chooseLanguage();
const COLUMN = { fr: 1, es: 2 }[LANGUAGE];
const EXACT = new Map();
const PATTERNS = [];
if (COLUMN) {
  for (const row of MESSAGES) {
    if (!row[0].includes("{")) {
      EXACT.set(row[0], row[COLUMN]);
      continue;
    }
    const names = [];
    const source = row[0].split(/(\{\w+\})/).map((part) => {
      const name = part.match(/^\{(\w+)\}$/);
      if (!name) return part.replace(/[.*+?^$()|[\]\\]/g, "\\$&");
      names.push(name[1]);
      return "(.+?)";
    }).join("");
    PATTERNS.push({ regex: new RegExp(`^${source}$`, "s"), names, target: row[COLUMN] });
  }
}

// A text in the chosen language; a value in a pattern is translated when it is a label.
function translateText(text) {
  const exact = EXACT.get(text);
  if (exact !== undefined) return exact;
  for (const pattern of PATTERNS) {
    const match = pattern.regex.exec(text);
    if (!match) continue;
    return pattern.target.replace(/\{(\w+)\}/g, (_, name) => {
      const value = match[pattern.names.indexOf(name) + 1];
      return value === undefined ? "" : (EXACT.get(value) ?? value);
    });
  }
  return null;
}

const ATTRIBUTES = ["placeholder", "aria-label", "title"];

// What this file wrote, so that its own writes (observed as changes) are not
// translated again.
const writtenText = new WeakMap();
const writtenAttributes = new WeakMap();

function translateNode(root) {
  if (!COLUMN) return;
  const skip = (node) => node.closest && node.closest("[translate=no], script, style");
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT | NodeFilter.SHOW_ELEMENT);
  for (let node = root; node; node = walker.nextNode()) {
    if (node.nodeType === Node.TEXT_NODE) {
      if (node.parentElement && skip(node.parentElement)) continue;
      if (writtenText.get(node) === node.nodeValue) continue;
      const raw = node.nodeValue;
      const text = raw.replace(/\s+/g, " ").trim();
      if (!text) continue;
      const translated = translateText(text);
      // Unchanged text is not written again: a write is itself a change observed.
      if (translated !== null && translated !== text) {
        node.nodeValue = raw.replace(raw.trim(), translated);
        writtenText.set(node, node.nodeValue);
      }
    } else if (node.nodeType === Node.ELEMENT_NODE && !skip(node)) {
      const written = writtenAttributes.get(node) || new Map();
      for (const name of ATTRIBUTES) {
        const value = node.getAttribute(name);
        if (!value || written.get(name) === value) continue;
        const translated = translateText(value.trim());
        if (translated && translated !== value) {
          node.setAttribute(name, translated);
          written.set(name, translated);
          writtenAttributes.set(node, written);
        }
      }
    }
  }
}

// Dates and numbers in the language's own form.
function formatNumber(n) {
  return new Intl.NumberFormat(LANGUAGE).format(n);
}

function formatDate(isoDate) {
  const [y, m, d] = String(isoDate).split("-").map(Number);
  if (!y || !m || !d) return String(isoDate);
  return new Intl.DateTimeFormat(LANGUAGE, { dateStyle: "medium", timeZone: "UTC" }).format(Date.UTC(y, m - 1, d));
}

// A UTC time (RFC 3339) in the language's form, said to be UTC.
function formatDateTime(isoTime) {
  const time = Date.parse(isoTime);
  if (Number.isNaN(time)) return String(isoTime);
  return `${new Intl.DateTimeFormat(LANGUAGE, { dateStyle: "medium", timeStyle: "short", timeZone: "UTC" }).format(time)} UTC`;
}

document.addEventListener("DOMContentLoaded", () => {
  document.documentElement.lang = LANGUAGE;
  document.title = translateText(document.title) || document.title;
  const picker = document.getElementById("language");
  if (picker) {
    picker.replaceChildren(...Object.entries(LANGUAGES).map(([code, name]) => {
      const option = document.createElement("option");
      option.value = code;
      option.textContent = name;
      option.lang = code;
      option.setAttribute("translate", "no");
      return option;
    }));
    picker.value = LANGUAGE;
    picker.addEventListener("change", () => {
      localStorage.setItem(LANGUAGE_KEY, picker.value);
      location.reload();
    });
  }
  translateNode(document.body);
  if (!COLUMN) return;
  new MutationObserver((changes) => {
    for (const change of changes) {
      if (change.type === "characterData") translateNode(change.target);
      for (const node of change.addedNodes || []) translateNode(node);
    }
  }).observe(document.body, { childList: true, subtree: true, characterData: true });
});
